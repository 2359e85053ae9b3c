// inbox.js: filled in next.
