package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
)

// Client talks to the hub for one site, with the site's token.
type Client struct {
	// URL is the hub's base URL, such as https://tandem.example.com.
	URL string
	// TokenFile holds the site's token; it is read for every request, so
	// a rotated token is used at once.
	TokenFile string
	// HTTP sends the requests; http.DefaultClient when nil. It should
	// set a timeout.
	HTTP *http.Client

	// requests counts the requests sent, and failures those that got no
	// answer or an error status.
	requests, failures atomic.Int64
}

// Release asks the hub what it has released to site.
func (c *Client) Release(ctx context.Context, site string) (Release, error) {
	var rel Release
	resp, err := c.do(ctx, http.MethodGet, fmt.Sprintf(ReleasePath, url.PathEscape(site)), nil)
	if err != nil {
		return rel, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&rel); err != nil {
		c.failures.Add(1)
		return rel, fmt.Errorf("read the hub's release of site %s: %w", site, err)
	}
	if rel.Site != site {
		c.failures.Add(1)
		return Release{}, fmt.Errorf("the hub answered a release of site %q, not of %s", rel.Site, site)
	}
	return rel, nil
}

// Report sends the hub site's report.
func (c *Client) Report(ctx context.Context, site string, rep Report) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode report of site %s: %w", site, err)
	}
	resp, err := c.do(ctx, http.MethodPost, fmt.Sprintf(StatusPath, url.PathEscape(site)), body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Requests returns how many requests the client made, and how many of
// them failed, a request whose token could not be read included.
func (c *Client) Requests() (sent, failed int64) { return c.requests.Load(), c.failures.Load() }

// do sends a request with the token and returns a response of status
// 2xx; any other is an error quoting the hub's answer.
func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		c.failures.Add(1)
	}
	return resp, err
}

func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	token, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("read the site's token: %w", err)
	}
	url := strings.TrimSuffix(c.URL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, &StatusError{Code: resp.StatusCode, Message: strings.TrimSpace(string(msg)), Request: method + " " + url}
	}
	return resp, nil
}

// StatusError is an answer of the hub other than success.
type StatusError struct {
	Code    int
	Message string
	Request string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: the hub answered %d %s: %s", e.Request, e.Code, http.StatusText(e.Code), e.Message)
}
