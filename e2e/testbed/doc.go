// Package testbed starts real Kubernetes clusters for tandem's end-to-end
// tests and its local demo.
//
// A Fleet is a set of named clusters reachable through one kubeconfig with a
// context per cluster name, which is how tandem resolves clusters. Two
// providers start fleets:
//
//   - the local provider (the default) runs upstream control planes as plain
//     processes: one shared etcd, and per cluster a kube-apiserver on
//     127.0.0.1 with its own etcd prefix; in full mode also
//     kube-controller-manager, kube-scheduler and kwok with a fake Node, so
//     Deployments and StatefulSets really become Available;
//   - the kind provider (TANDEM_E2E_PROVIDER=kind) creates kind clusters and
//     needs a working Docker engine.
//
// Every process the local provider starts runs in its own process group and
// is killed when the fleet stops; each component logs to a file under the
// fleet's directory.
package testbed
