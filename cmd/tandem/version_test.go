package main

import "testing"

func TestToolingVersionIsSemantic(t *testing.T) {
	defer func(v string) { version = v }(version)
	for in, want := range map[string]string{
		"v1.4.0":        "1.4.0",
		"1.4.0-rc.1":    "1.4.0-rc.1",
		"dev":           "0.0.0-dev",
		"657837e-dirty": "0.0.0-657837e-dirty",
		"v1.4.0-3-gabc": "1.4.0-3-gabc",
	} {
		version = in
		if got := toolingVersion(); got != want {
			t.Errorf("toolingVersion() for %q = %q, want %q", in, got, want)
		}
	}
}
