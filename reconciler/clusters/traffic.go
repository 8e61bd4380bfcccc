package clusters

import (
	"io"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/transport"
)

// Traffic counts, per cluster, the requests tandem sends, the bytes they
// carry each way and the restarts of its watches, as Prometheus metrics.
// It is a prometheus.Collector: register it where the other metrics are
// served. Connections made with the same Traffic count into it; a nil
// Traffic counts nothing.
type Traffic struct {
	requests      *prometheus.CounterVec
	requestBytes  *prometheus.CounterVec
	responseBytes *prometheus.CounterVec
	watchRestarts *prometheus.CounterVec
}

// NewTraffic returns a Traffic with every count at zero.
func NewTraffic() *Traffic {
	return &Traffic{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_cluster_requests_total",
			Help: "Requests sent to a cluster's API server, by method and response code class (2xx, 4xx, …; error when no response came).",
		}, []string{"cluster", "method", "code"}),
		requestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_cluster_request_bytes_total",
			Help: "Bytes of request bodies sent to a cluster's API server.",
		}, []string{"cluster"}),
		responseBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_cluster_response_bytes_total",
			Help: "Bytes of response bodies received from a cluster's API server, watch streams included as they are read.",
		}, []string{"cluster"}),
		watchRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_cluster_watch_restarts_total",
			Help: "Times a watch of a cluster's ApplySet members failed and had to list and watch again.",
		}, []string{"cluster"}),
	}
}

// Describe sends the descriptors of Traffic's metrics.
func (t *Traffic) Describe(ch chan<- *prometheus.Desc) {
	t.requests.Describe(ch)
	t.requestBytes.Describe(ch)
	t.responseBytes.Describe(ch)
	t.watchRestarts.Describe(ch)
}

// Collect sends Traffic's metrics.
func (t *Traffic) Collect(ch chan<- prometheus.Metric) {
	t.requests.Collect(ch)
	t.requestBytes.Collect(ch)
	t.responseBytes.Collect(ch)
	t.watchRestarts.Collect(ch)
}

// wrapper returns a transport wrapper that counts the traffic of the
// cluster name; nil for a nil Traffic.
func (t *Traffic) wrapper(name string) transport.WrapperFunc {
	if t == nil {
		return nil
	}
	sent, received := t.requestBytes.WithLabelValues(name), t.responseBytes.WithLabelValues(name)
	return func(rt http.RoundTripper) http.RoundTripper {
		return &countingTransport{next: rt, cluster: name, requests: t.requests, sent: sent, received: received}
	}
}

// watchRestarted counts a restart of a watch of the cluster name.
func (t *Traffic) watchRestarted(name string) {
	if t != nil {
		t.watchRestarts.WithLabelValues(name).Inc()
	}
}

// countingTransport counts the requests of one cluster and their bytes.
// A body of known length counts at once; one of unknown length, as a
// watch stream's, counts as it is read.
type countingTransport struct {
	next           http.RoundTripper
	cluster        string
	requests       *prometheus.CounterVec
	sent, received prometheus.Counter
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.ContentLength > 0:
		c.sent.Add(float64(req.ContentLength))
	case req.Body != nil && req.Body != http.NoBody:
		// A length of 0 with a body is unknown too. A RoundTripper must
		// not change the request it is given.
		counted := *req
		counted.Body = &countingBody{ReadCloser: req.Body, counter: c.sent}
		req = &counted
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		c.requests.WithLabelValues(c.cluster, req.Method, "error").Inc()
		return resp, err
	}
	c.requests.WithLabelValues(c.cluster, req.Method, strconv.Itoa(resp.StatusCode/100)+"xx").Inc()
	switch {
	case resp.ContentLength > 0:
		c.received.Add(float64(resp.ContentLength))
	case resp.ContentLength < 0 && resp.Body != nil:
		resp.Body = &countingBody{ReadCloser: resp.Body, counter: c.received}
	}
	return resp, nil
}

// countingBody adds the bytes read through it to a counter.
type countingBody struct {
	io.ReadCloser
	counter prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.counter.Add(float64(n))
	}
	return n, err
}
