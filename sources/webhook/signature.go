package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// provider is a kind of sender, recognised by the header it authenticates
// deliveries with.
type provider struct {
	name string
	// header carries the signature or token.
	header string
	// token is true when header carries the secret itself rather than an
	// HMAC of the body.
	token bool
	// eventHeader names the event; empty when every delivery is a push.
	eventHeader string
	// pushEvents are the eventHeader values that announce pushes.
	pushEvents []string
	// deliveryHeader carries the sender's identifier of the delivery.
	deliveryHeader string
	// anyRef is true when a push may leave the ref out, meaning every ref.
	anyRef bool
	// verify checks the header value against the body.
	verify func(secret, body []byte, value string) bool
	// parse extracts the repository URLs and ref a delivery names, if any.
	parse func(body []byte) (push, error)
}

// The order matters: Gitea and Forgejo also send X-Hub-Signature-256 and
// X-GitHub-Event, and their own headers identify them more precisely.
var providers = []provider{
	{name: "gitea", header: "X-Gitea-Signature", eventHeader: "X-Gitea-Event", pushEvents: []string{"push"},
		deliveryHeader: "X-Gitea-Delivery", verify: verifyHexHMAC, parse: parseGitHubPush},
	{name: "forgejo", header: "X-Forgejo-Signature", eventHeader: "X-Forgejo-Event", pushEvents: []string{"push"},
		deliveryHeader: "X-Forgejo-Delivery", verify: verifyHexHMAC, parse: parseGitHubPush},
	{name: "gitlab", header: "X-Gitlab-Token", token: true, eventHeader: "X-Gitlab-Event", pushEvents: []string{"Push Hook", "Tag Push Hook"},
		deliveryHeader: "X-Gitlab-Event-UUID", verify: verifyToken, parse: parseGitLabPush},
	{name: "github", header: "X-Hub-Signature-256", eventHeader: "X-GitHub-Event", pushEvents: []string{"push"},
		deliveryHeader: "X-GitHub-Delivery", verify: verifyPrefixedHMAC, parse: parseGitHubPush},
	{name: "generic", header: "X-Tandem-Signature-256", anyRef: true, verify: verifyPrefixedHMAC, parse: parseGenericPush},
}

// detect returns the provider a request comes from, and whether the
// request carries that provider's signature or token. A request carrying
// none is attributed by its event header, so that its refusal names the
// sender and what it lacks.
func detect(h http.Header) (provider, bool) {
	for _, p := range providers {
		if h.Get(p.header) != "" {
			return p, true
		}
	}
	for _, p := range providers {
		if p.eventHeader != "" && h.Get(p.eventHeader) != "" {
			return p, false
		}
	}
	return provider{}, false
}

// credential names what authenticates the provider's deliveries.
func (p provider) credential() string {
	if p.token {
		return "token"
	}
	return "signature"
}

// event returns the event a delivery announces; "push" for a sender that
// only sends pushes.
func (p provider) event(h http.Header) string {
	if p.eventHeader == "" {
		if p.name == "" {
			return ""
		}
		return "push"
	}
	return h.Get(p.eventHeader)
}

// isPush reports whether event announces a push.
func (p provider) isPush(event string) bool {
	return p.eventHeader == "" || slices.Contains(p.pushEvents, event)
}

// check says what a push lacks to be acted on, or nil.
func (p provider) check(ev push) error {
	switch {
	case ev.repo() == "":
		return errors.New("repository URL must be set")
	case ev.ref == "" && !p.anyRef:
		return errors.New("ref must be set")
	}
	return nil
}

// verifyPrefixedHMAC checks a "sha256=<hex>" HMAC-SHA256 of the body, as
// GitHub sends it.
func verifyPrefixedHMAC(secret, body []byte, value string) bool {
	hexSig, ok := strings.CutPrefix(value, "sha256=")
	return ok && verifyHexHMAC(secret, body, hexSig)
}

// verifyHexHMAC checks a bare hex HMAC-SHA256 of the body, as Gitea and
// Forgejo send it.
func verifyHexHMAC(secret, body []byte, hexSig string) bool {
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// verifyToken checks a shared token, as GitLab sends it. Comparing digests
// keeps the comparison constant-time regardless of the token's length.
func verifyToken(secret, _ []byte, token string) bool {
	want := sha256.Sum256(secret)
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}
