package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// provider is a kind of sender, recognised by the header it authenticates
// deliveries with.
type provider struct {
	name string
	// header carries the signature or token.
	header string
	// eventHeader names the event; empty when every delivery is a push.
	eventHeader string
	// pushEvents are the eventHeader values that announce pushes.
	pushEvents []string
	// verify checks the header value against the body.
	verify func(secret, body []byte, value string) bool
	// parse extracts the repository URLs and ref of a push.
	parse func(body []byte) (push, error)
}

// The order matters: Gitea and Forgejo also send X-Hub-Signature-256, and
// their own header identifies them more precisely.
var providers = []provider{
	{name: "gitea", header: "X-Gitea-Signature", eventHeader: "X-Gitea-Event", pushEvents: []string{"push"}, verify: verifyHexHMAC, parse: parseGitHubPush},
	{name: "forgejo", header: "X-Forgejo-Signature", eventHeader: "X-Forgejo-Event", pushEvents: []string{"push"}, verify: verifyHexHMAC, parse: parseGitHubPush},
	{name: "gitlab", header: "X-Gitlab-Token", eventHeader: "X-Gitlab-Event", pushEvents: []string{"Push Hook", "Tag Push Hook"}, verify: verifyToken, parse: parseGitLabPush},
	{name: "github", header: "X-Hub-Signature-256", eventHeader: "X-GitHub-Event", pushEvents: []string{"push"}, verify: verifyPrefixedHMAC, parse: parseGitHubPush},
	{name: "generic", header: "X-Tandem-Signature-256", verify: verifyPrefixedHMAC, parse: parseGenericPush},
}

// detect returns the provider whose authentication header the request
// carries.
func detect(h http.Header) (provider, bool) {
	for _, p := range providers {
		if h.Get(p.header) != "" {
			return p, true
		}
	}
	return provider{}, false
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
