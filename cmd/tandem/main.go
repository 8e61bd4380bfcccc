// Command tandem is a GitOps reconciler for IoT solutions that span a cloud
// cluster and many edge-site clusters. See "tandem --help".
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(exitCode(err))
	}
}
