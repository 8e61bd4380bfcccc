# Versions of the local control planes; the Makefile rebuilds them when this
# file, go.mod or go.sum changes. Kubernetes itself is pinned in go.mod.
K8S_VERSION  := v1.37.2
KWOK_VERSION := v0.8.0
K8S_LDFLAGS  := -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
                -X k8s.io/component-base/version.gitMajor=1 \
                -X k8s.io/component-base/version.gitMinor=37 \
                -X k8s.io/component-base/version.gitTreeState=clean
