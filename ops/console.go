package ops

import (
	"embed"
	"io/fs"
	"net/http"
)

// The console is plain HTML, CSS and JavaScript with no build step: it
// polls the JSON API once a second and draws the DAG as SVG.
//
//go:embed console
var consoleFiles embed.FS

func consoleHandler() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
