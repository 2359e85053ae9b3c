// Package web holds the operator pages: html/template files, CSS, vanilla ES modules and
// the ru/en message catalogues, all embedded so a plain `go build` makes a complete binary.
package web

import "embed"

// Files are the templates, static assets and catalogues.
//
//go:embed templates static i18n
var Files embed.FS
