// Package e2e holds tandem's end-to-end tests. They run against real
// Kubernetes API servers started by package testbed; "make e2e" builds the
// control planes first.
package e2e
