package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client calls a member's HTTP API (package ops).
type client struct {
	addr  string // base URL
	name  string // as given, for messages
	token string
	http  *http.Client
}

func newClient(addr, token string, timeout time.Duration) *client {
	name := addr
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &client{addr: strings.TrimSuffix(addr, "/"), name: name, token: token, http: &http.Client{Timeout: timeout}}
}

// apiError is an error the member answered with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// do calls method on path and decodes the JSON answer into out (unless
// nil). Every error it returns reads as one line.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.addr+"/api/v1/"+path, body)
	if err != nil {
		return fmt.Errorf("bad address %q: %v", c.addr, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.explain(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %v", c.name, err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusUnauthorized {
			e.Error += " (give it with --token or $WEIR_TOKEN)"
		}
		return &apiError{status: resp.StatusCode, msg: fmt.Sprintf("%s (HTTP %d)", e.Error, resp.StatusCode)}
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s answered what is not weir's API (%v): is --addr a weir member's HTTP endpoint?", c.name, err)
		}
	}
	return nil
}

// explain turns a transport error into one line that says what to check.
func (c *client) explain(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s did not answer in time", c.name)
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Errorf("cannot reach %s: %v (is a member serving HTTP there? see --addr)", c.name, oe.Err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("cannot reach %s: %v", c.name, ue.Err)
	}
	return fmt.Errorf("cannot reach %s: %v", c.name, err)
}
