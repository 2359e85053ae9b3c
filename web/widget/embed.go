// Package widget holds the web-site widget's browser files: /widget.js (the one script a
// site embeds), the chat page shown in its iframe with its script and style, and the demo
// site. They are plain files with no build step and no dependencies.
package widget

import (
	"embed"
	"mime"
	"path"
)

//go:embed assets
var files embed.FS

// Asset returns a file by name with its content type; ok is false for unknown names.
func Asset(name string) (b []byte, contentType string, ok bool) {
	if name == "" || name != path.Base(name) {
		return nil, "", false
	}
	b, err := files.ReadFile("assets/" + name)
	if err != nil {
		return nil, "", false
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return b, ct, true
}
