package daemon

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the daemon's endpoints:
//
//	/healthz        200 while the process runs
//	/readyz         200 once the config repository has been fetched and a revision rendered
//	/metrics        Prometheus metrics
//	/api/v1/status  Status as JSON
//	/api/v1/rollouts/{solution}/{approve,resume,abort}
//	                POST, with a bearer token of Config.Tokens: act on a rollout
//	/api/v1/sites/{site}/release
//	                GET, with the site's agent token: what the rollout released to a pull site
//	/api/v1/sites/{site}/status
//	                POST, with the site's agent token: the agent's report of its site
//
// webhook, when not nil, is served at /hooks/git.
func (d *Daemon) Handler(webhook http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		st := d.Status()
		switch {
		case st.Source.Revision == "":
			http.Error(w, "config repository not fetched yet", http.StatusServiceUnavailable)
		case st.Render.LastGoodRevision == "":
			http.Error(w, "no revision rendered yet", http.StatusServiceUnavailable)
		default:
			w.Write([]byte("ok\n"))
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(d.Status())
	})
	mux.HandleFunc("POST /api/v1/rollouts/{solution}/{action}", d.rolloutAction)
	mux.HandleFunc("GET /api/v1/sites/{site}/release", d.siteRelease)
	mux.HandleFunc("POST /api/v1/sites/{site}/status", d.siteStatus)
	if webhook != nil {
		mux.Handle("POST /hooks/git", webhook)
	}
	return mux
}
