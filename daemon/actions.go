package daemon

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Tokens are the bearer tokens that may act on rollouts, each naming who
// holds it, for the audit log.
type Tokens map[string]string

// ReadTokens reads a tokens file: one "name:token" a line, blank lines and
// lines starting with # skipped. A token shorter than 16 characters, or
// given twice, is an error naming the line.
func ReadTokens(path string) (Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	tokens := Tokens{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, token, ok := strings.Cut(line, ":")
		name, token = strings.TrimSpace(name), strings.TrimSpace(token)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%s:%d: want name:token", path, n)
		case len(token) < 16:
			return nil, fmt.Errorf("%s:%d: the token of %s is shorter than 16 characters", path, n, name)
		}
		if _, dup := tokens[token]; dup {
			return nil, fmt.Errorf("%s:%d: the token of %s is given twice", path, n, name)
		}
		tokens[token] = name
	}
	return tokens, nil
}

// holder returns who holds the request's bearer token.
func (t Tokens) holder(r *http.Request) (string, bool) {
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	for token, name := range t {
		if subtle.ConstantTimeCompare([]byte(given), []byte(token)) == 1 {
			return name, true
		}
	}
	return "", false
}

// Rollout actions.
const (
	ActionApprove = "approve"
	ActionResume  = "resume"
	ActionAbort   = "abort"
)

// action is a rollout action for the loop to carry out; done gets the
// solution's rollout status after it, or why it was refused.
type action struct {
	verb, solution, who string
	done                chan actionResult
}

type actionResult struct {
	status RolloutStatus
	err    error
}

// errBadAction is an action the rollout cannot take now.
var errBadAction = errors.New("rollout action refused")

// act carries out a on the rollout, in the loop.
func (d *Daemon) act(a action) actionResult {
	if err := d.actOn(a); err != nil {
		return actionResult{err: err}
	}
	for _, st := range d.rollout.status(d.now()) {
		if st.Solution == a.solution {
			return actionResult{status: st}
		}
	}
	return actionResult{}
}

func (d *Daemon) actOn(a action) error {
	if d.rollout == nil {
		return fmt.Errorf("%w: no revision is rolling out", errNoRollout)
	}
	now := d.now()
	var err error
	switch a.verb {
	case ActionApprove:
		err = d.rollout.approve(a.solution, now)
	case ActionResume:
		err = d.rollout.resume(a.solution, now)
	case ActionAbort:
		err = d.rollout.abort(a.solution, now)
	default:
		return fmt.Errorf("%w: unknown action %q: want approve, resume or abort", errBadAction, a.verb)
	}
	if errors.Is(err, errNoRollout) {
		return fmt.Errorf("%w: revision %s does not roll out solution %s", errNoRollout, d.rollout.revision, a.solution)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errBadAction, err)
	}
	d.log.Info("rollout action", "action", a.verb, "solution", a.solution, "by", a.who, "revision", d.rollout.revision)
	d.release()
	return nil
}

// rolloutAction serves POST /api/v1/rollouts/{solution}/{action}: a holder
// of a token approves, resumes or aborts a solution's rollout, and gets
// its status back.
func (d *Daemon) rolloutAction(w http.ResponseWriter, r *http.Request) {
	if len(d.tokens) == 0 {
		http.Error(w, "rollout actions are disabled: start tandem serve with --api-token-file", http.StatusForbidden)
		return
	}
	who, ok := d.tokens.holder(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
		http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
		return
	}
	a := action{verb: r.PathValue("action"), solution: r.PathValue("solution"), who: who, done: make(chan actionResult, 1)}
	ctx := r.Context()
	select {
	case d.actions <- a:
	case <-ctx.Done():
		return
	case <-time.After(10 * time.Second):
		http.Error(w, "the daemon is not reconciling (not the leader?); try again", http.StatusServiceUnavailable)
		return
	}
	res := <-a.done
	switch {
	case errors.Is(res.err, errNoRollout):
		http.Error(w, res.err.Error(), http.StatusNotFound)
	case res.err != nil:
		http.Error(w, res.err.Error(), http.StatusConflict)
	default:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res.status)
	}
}
