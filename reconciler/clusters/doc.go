// Package clusters reaches the clusters a render names. A render says no
// more about a cluster than its name: a Resolver turns the name into
// credentials, from a kubeconfig context (KubeconfigResolver) or from the
// Secret labelled with it in the cluster tandem runs in (SecretResolver).
package clusters
