package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-gitops/tandem/daemon"
	"github.com/tandem-gitops/tandem/sources"
	"github.com/tandem-gitops/tandem/sources/gitwrite"
)

//go:embed templates static
var assets embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// Config holds what a Console is wired from.
type Config struct {
	// Status returns what the daemon knows now.
	Status func() daemon.Status
	// Repository is the mirror of the config repository the daemon
	// follows; Writer commits to its branch.
	Repository *sources.Repository
	Writer     *gitwrite.Writer
	// Trigger asks the daemon's source to fetch at once, so that a commit
	// the console pushed rolls out without waiting for the next poll.
	Trigger func()
	// Users may sign in.
	Users Users
	// AuthHeader, when set, names a request header an authenticating
	// proxy in front sets to the signed-in user's name; such a user's role
	// is as Users says, viewer when Users does not list them.
	AuthHeader string
	// Logger receives the audit lines of every commit; slog.Default()
	// when nil.
	Logger *slog.Logger
}

// Console serves the console's pages.
type Console struct {
	cfg      Config
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions *sessions
	heads    *heads
	mux      *http.ServeMux
}

// New returns the console for cfg; mount it at Prefix.
func New(cfg Config) (*Console, error) {
	if cfg.Status == nil || cfg.Repository == nil || cfg.Writer == nil || len(cfg.Users) == 0 && cfg.AuthHeader == "" {
		return nil, errors.New("console: status, repository, writer and users are required")
	}
	c := &Console{cfg: cfg, log: cfg.Logger, sessions: newSessions(), heads: newHeads(cfg.Repository)}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.cfg.Trigger == nil {
		c.cfg.Trigger = func() {}
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	files := http.StripPrefix("/console/static/", http.FileServerFS(static))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/static/{file}", files.ServeHTTP)
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("POST /console/logout", c.signedIn(c.logout))
	mux.HandleFunc("GET /console/{$}", c.signedIn(c.fleet))
	mux.HandleFunc("GET /console/solutions/{name}", c.signedIn(c.solution))
	mux.HandleFunc("POST /console/solutions/{name}/scale", c.operator(c.applyScale))
	mux.HandleFunc("GET /console/solutions/{name}/history", c.signedIn(c.history))
	mux.HandleFunc("GET /console/solutions/{name}/revert/{commit}", c.signedIn(c.revertPreview))
	mux.HandleFunc("POST /console/solutions/{name}/revert/{commit}", c.operator(c.revert))
	mux.HandleFunc("GET /console/sites/{name}", c.signedIn(c.site))
	c.mux = mux
	return c, nil
}

// ServeHTTP serves the console's pages and assets, with headers that keep
// them out of frames and other sites.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

type handler func(w http.ResponseWriter, r *http.Request, sess *session)

// signedIn serves h to a signed-in user and sends anyone else to sign in.
func (c *Console) signedIn(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := c.session(w, r)
		if sess == nil {
			if r.Method != http.MethodGet {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !sess.validCSRF(r) {
			http.Error(w, "the form's CSRF token is missing or stale; reload the page", http.StatusForbidden)
			return
		}
		h(w, r, sess)
	}
}

// operator serves h to a signed-in operator; a viewer's write is refused.
func (c *Console) operator(h handler) http.HandlerFunc {
	return c.signedIn(func(w http.ResponseWriter, r *http.Request, sess *session) {
		if sess.role != Operator {
			http.Error(w, fmt.Sprintf("user %s is a %s: only an operator may change the configuration", sess.user, sess.role), http.StatusForbidden)
			return
		}
		h(w, r, sess)
	})
}

// session returns the request's session: the cookie's, or one for the
// user the authenticating proxy names.
func (c *Console) session(w http.ResponseWriter, r *http.Request) *session {
	sess := c.sessions.get(r)
	if c.cfg.AuthHeader == "" {
		return sess
	}
	name := r.Header.Get(c.cfg.AuthHeader)
	if name == "" {
		return nil
	}
	if sess != nil && sess.user == name {
		return sess
	}
	id, sess := c.sessions.create(name, c.cfg.Users.role(name))
	setCookie(w, r, id, int(sessionTTL/time.Second))
	return sess
}

// proxyOnly is what the sign-in page says when users sign in through the
// authenticating proxy.
const proxyOnly = "Sign in through the proxy in front of the console."

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Next": safeNext(r.URL.Query().Get("next"))}
	if c.cfg.AuthHeader != "" {
		data["Proxy"] = proxyOnly
	}
	c.render(w, r, http.StatusOK, "login", nil, data)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if c.cfg.AuthHeader != "" {
		c.render(w, r, http.StatusForbidden, "login", nil, map[string]any{"Next": next, "Proxy": proxyOnly})
		return
	}
	name := r.PostFormValue("user")
	if !c.sessions.allowLogin(r, name) {
		c.render(w, r, http.StatusTooManyRequests, "login", nil, map[string]any{"Next": next,
			"Error": fmt.Sprintf("Too many failed attempts; wait %s and try again.", loginEvery)})
		return
	}
	u, ok := c.cfg.Users.check(name, r.PostFormValue("password"))
	if !ok {
		c.sessions.failedLogin(r, name)
		c.log.Warn("console sign-in refused", "user", name, "client", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", nil, map[string]any{"Next": next, "Error": "Unknown user or wrong password."})
		return
	}
	id, _ := c.sessions.create(u.name, u.role)
	setCookie(w, r, id, int(sessionTTL/time.Second))
	c.log.Info("console sign-in", "user", u.name, "role", u.role, "client", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	c.sessions.end(r)
	setCookie(w, r, "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// safeNext keeps a redirect after sign-in inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix
	}
	return next
}

// page is what every page's template gets.
type page struct {
	Title string
	User  string
	Role  Role
	CSRF  string
	// Refresh is the page the live parts are refreshed from: the page
	// itself, or for the answer to a form, the page the form was on.
	Refresh string
	// Data is the page's own.
	Data any
}

func (c *Console) parseTemplates() error {
	funcs := template.FuncMap{
		"since":    since,
		"short":    shortRevision,
		"scale":    func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
		"phaseCSS": func(p string) string { return "phase-" + strings.ToLower(p) },
		"path":     url.PathEscape,
		"deref":    func(t *time.Time) time.Time { return *t },
		"shortRefs": func(s string) string {
			return revisionRef.ReplaceAllStringFunc(s, shortRevision)
		},
	}
	c.pages = map[string]*template.Template{}
	for _, name := range []string{"login", "fleet", "solution", "history", "revert", "site"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("console: parse template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}

// render writes the page name with data.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, sess *session, data any) {
	p := page{Title: name, Data: data, Refresh: r.URL.Path}
	if r.Method != http.MethodGet {
		p.Refresh = strings.TrimSuffix(r.URL.Path, "/scale")
	}
	if sess != nil {
		p.User, p.Role, p.CSRF = sess.user, sess.role, sess.csrf
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.pages[name].ExecuteTemplate(w, "layout", p); err != nil {
		c.log.Error("console page", "page", name, "path", r.URL.Path, "error", err)
	}
}

// since says how long ago t was, coarsely.
func since(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Format("2006-01-02")
}

// revisionRef is a revision as messages name it.
var revisionRef = regexp.MustCompile(`refs/heads/[^\s@]+@sha1:[0-9a-f]{40}`)

// shortRevision shortens refs/heads/main@sha1:1a2b3c4… to main 1a2b3c4.
func shortRevision(rev string) string {
	ref, commit, ok := strings.Cut(rev, "@sha1:")
	if !ok {
		return rev
	}
	return strings.TrimPrefix(ref, "refs/heads/") + " " + commit[:min(7, len(commit))]
}
