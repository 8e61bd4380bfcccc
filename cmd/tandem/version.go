package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"

	"github.com/spf13/cobra"
)

// Set by the Makefile with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "unknown"
)

var semver = regexp.MustCompile(`^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)$`)

// toolingVersion is the version recorded in the ApplySet tooling
// annotation, which KEP-3659 wants semantic: a release's own version, or
// 0.0.0-<build> for a development build ("dev", "657837e-dirty").
func toolingVersion() string {
	if m := semver.FindStringSubmatch(version); m != nil {
		return m[1]
	}
	return "0.0.0-" + regexp.MustCompile(`[^0-9A-Za-z-]`).ReplaceAllString(version, "-")
}

type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of tandem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := versionInfo{
				Version:   version,
				Commit:    commit,
				GoVersion: runtime.Version(),
				Platform:  runtime.GOOS + "/" + runtime.GOARCH,
			}
			out := cmd.OutOrStdout()
			switch output {
			case "":
				_, err := fmt.Fprintf(out, "tandem %s (commit %s, %s, %s)\n",
					info.Version, info.Commit, info.GoVersion, info.Platform)
				return err
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			default:
				return &usageError{fmt.Errorf("unknown output format %q: want json or nothing", output)}
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}
