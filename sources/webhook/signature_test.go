package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
)

func hexMAC(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestVerify(t *testing.T) {
	const secret, body = "It's a Secret to Everybody", "Hello, World!"
	// The example signature from GitHub's documentation.
	const github = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	good := hexMAC(secret, body)
	tests := []struct {
		name   string
		verify func(secret, body []byte, value string) bool
		value  string
		want   bool
	}{
		{"github documented example", verifyPrefixedHMAC, github, true},
		{"prefixed", verifyPrefixedHMAC, "sha256=" + good, true},
		{"prefixed without prefix", verifyPrefixedHMAC, good, false},
		{"prefixed sha1", verifyPrefixedHMAC, "sha1=" + good, false},
		{"prefixed wrong", verifyPrefixedHMAC, "sha256=" + hexMAC("other", body), false},
		{"prefixed truncated", verifyPrefixedHMAC, "sha256=" + good[:32], false},
		{"prefixed not hex", verifyPrefixedHMAC, "sha256=zz" + good[2:], false},
		{"prefixed empty", verifyPrefixedHMAC, "", false},
		{"hex", verifyHexHMAC, good, true},
		{"hex upper case", verifyHexHMAC, "757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17", true},
		{"hex prefixed", verifyHexHMAC, "sha256=" + good, false},
		{"hex of other body", verifyHexHMAC, hexMAC(secret, body+" "), false},
		{"token", verifyToken, secret, true},
		{"token wrong", verifyToken, "It's a Secret to Everybody!", false},
		{"token prefix", verifyToken, secret[:5], false},
		{"token empty", verifyToken, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.verify([]byte(secret), []byte(body), tt.value); got != tt.want {
				t.Errorf("verify(%q) = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

func TestDetectPrefersTheSendersOwnHeader(t *testing.T) {
	tests := []struct {
		headers    []string
		want       string
		wantSigned bool
	}{
		{[]string{"X-Hub-Signature-256"}, "github", true},
		{[]string{"X-Hub-Signature-256", "X-Gitea-Signature"}, "gitea", true},
		{[]string{"X-Hub-Signature-256", "X-Forgejo-Signature"}, "forgejo", true},
		{[]string{"X-Gitlab-Token"}, "gitlab", true},
		{[]string{"X-Tandem-Signature-256"}, "generic", true},
		{[]string{"X-Gitlab-Event"}, "gitlab", false},
		{[]string{"X-GitHub-Event", "X-Gitea-Event"}, "gitea", false},
		{[]string{"X-GitHub-Event"}, "github", false},
		{[]string{"X-Hub-Signature"}, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, k := range tt.headers {
			h.Set(k, "x")
		}
		p, signed := detect(h)
		if p.name != tt.want || signed != tt.wantSigned {
			t.Errorf("detect(%v) = %q, %v; want %q, %v", tt.headers, p.name, signed, tt.want, tt.wantSigned)
		}
	}
}
