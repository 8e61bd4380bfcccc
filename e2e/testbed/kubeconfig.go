package testbed

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigEntry is one cluster of a kubeconfig: cluster, user and context
// all carry the cluster's name.
type kubeconfigEntry struct {
	Name   string
	Server string
	CA     []byte
	Token  string
	// Cert and Key, when set, authenticate instead of Token.
	Cert, Key []byte
}

// writeKubeconfig writes entries as one kubeconfig, the first entry being the
// current context.
func writeKubeconfig(path string, entries []kubeconfigEntry) error {
	cfg := clientcmdapi.NewConfig()
	for _, e := range entries {
		cfg.Clusters[e.Name] = &clientcmdapi.Cluster{Server: e.Server, CertificateAuthorityData: e.CA}
		cfg.AuthInfos[e.Name] = &clientcmdapi.AuthInfo{Token: e.Token, ClientCertificateData: e.Cert, ClientKeyData: e.Key}
		cfg.Contexts[e.Name] = &clientcmdapi.Context{Cluster: e.Name, AuthInfo: e.Name}
	}
	if len(entries) > 0 {
		cfg.CurrentContext = entries[0].Name
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
