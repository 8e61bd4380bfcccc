package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	sessionCookie = "tandem_session"
	// sessionTTL is how long a session lasts without a request.
	sessionTTL = 12 * time.Hour
)

// session is a signed-in user.
type session struct {
	user string
	role Role
	// csrf is the token every form of the session carries.
	csrf    string
	expires time.Time
}

// sessions are the signed-in users by session id, and the login attempts
// by client address.
type sessions struct {
	mu       sync.Mutex
	byID     map[string]*session
	attempts map[string]*rate.Limiter
}

func newSessions() *sessions {
	return &sessions{byID: map[string]*session{}, attempts: map[string]*rate.Limiter{}}
}

// create starts a session for u and returns its id.
func (s *sessions) create(name string, role Role) (string, *session) {
	id, sess := token(), &session{user: name, role: role, csrf: token(), expires: time.Now().Add(sessionTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, old := range s.byID {
		if now.After(old.expires) {
			delete(s.byID, k)
		}
	}
	s.byID[id] = sess
	return id, sess
}

// get returns the session the request's cookie names, extending it.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[c.Value]
	if !ok || time.Now().After(sess.expires) {
		delete(s.byID, c.Value)
		return nil
	}
	sess.expires = time.Now().Add(sessionTTL)
	return sess
}

func (s *sessions) end(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.byID, c.Value)
		s.mu.Unlock()
	}
}

// loginBurst is how many failed sign-ins a client may make for a user at
// once; then one more every loginEvery.
const (
	loginBurst = 5
	loginEvery = 12 * time.Second
)

// allowLogin reports whether the client may try to sign in as name now.
func (s *sessions) allowLogin(r *http.Request, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A limiter that has filled up again says nothing: drop it, so that
	// the map holds only clients failing now.
	for k, l := range s.attempts {
		if l.Tokens() >= loginBurst {
			delete(s.attempts, k)
		}
	}
	l, ok := s.attempts[attemptKey(r, name)]
	return !ok || l.Tokens() >= 1
}

// failedLogin counts a failed sign-in of the client as name.
func (s *sessions) failedLogin(r *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := attemptKey(r, name)
	l, ok := s.attempts[k]
	if !ok {
		l = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
		s.attempts[k] = l
	}
	l.Allow()
}

// attemptKey keys sign-in attempts by client address and user name, so
// that behind a proxy one user's failures do not lock out the others.
func attemptKey(r *http.Request, name string) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return host + "\x00" + name
}

// validCSRF reports whether the form's token is the session's.
func (sess *session) validCSRF(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) == 1
}

// setCookie sets the session cookie: HttpOnly, SameSite=Strict, and
// Secure when the request came over TLS, directly or through a proxy.
func setCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	})
}

func token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
