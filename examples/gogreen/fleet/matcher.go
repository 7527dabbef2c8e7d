package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The map-matching service stands in for an external API (HERE, Google
// Maps): it snaps a trip's waypoints to the road network and says how far
// the vehicle drove. It answers over HTTP after a delay, as a remote
// service would, so that the job calls it asynchronously.

// Waypoint is a GNSS fix sent for matching.
type Waypoint struct {
	TS  int64   `json:"t"`
	Lat float64 `json:"y"`
	Lon float64 `json:"x"`
}

type matchRequest struct {
	Waypoints []Waypoint `json:"waypoints"`
}

type matchResponse struct {
	Km float64 `json:"km"`
}

// RoadFactor is how much longer the roads are than the straight lines
// between waypoints: what the simulated matching adds.
const RoadFactor = 1.12

// MatchedKm is the distance the service reports for waypoints: the path
// through them in time order, along the roads.
func MatchedKm(ws []Waypoint) float64 {
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b Waypoint) int { return int(a.TS - b.TS) })
	km := 0.0
	for i := 1; i < len(ws); i++ {
		km += haversine(ws[i-1], ws[i])
	}
	return km * RoadFactor
}

func haversine(a, b Waypoint) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (b.Lat-a.Lat)*rad, (b.Lon-a.Lon)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}

// Matcher is a running map-matching service.
type Matcher struct {
	URL  string
	srv  *http.Server
	done chan struct{}
}

// StartMatcher serves map matching on addr (such as "127.0.0.1:0"),
// answering each request after latency.
func StartMatcher(addr string, latency time.Duration) (*Matcher, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("map matching service: %w", err)
	}
	m := &Matcher{URL: "http://" + ln.Addr().String() + "/match", done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /match", func(w http.ResponseWriter, r *http.Request) {
		var req matchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
		_ = json.NewEncoder(w).Encode(matchResponse{Km: MatchedKm(req.Waypoints)})
	})
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(m.done)
		_ = m.srv.Serve(ln)
	}()
	return m, nil
}

// Close stops the service.
func (m *Matcher) Close() error {
	err := m.srv.Close()
	<-m.done
	return err
}

// MatchClient calls a map-matching service.
type MatchClient struct {
	url string
	hc  *http.Client
}

var clients struct {
	sync.Mutex
	byURL map[string]*MatchClient
}

// Client returns this process's client of the service at url, shared by
// the job's processors (it keeps connections open between calls).
func Client(url string) *MatchClient {
	clients.Lock()
	defer clients.Unlock()
	if c, ok := clients.byURL[url]; ok {
		return c
	}
	if clients.byURL == nil {
		clients.byURL = map[string]*MatchClient{}
	}
	c := &MatchClient{url: url, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	clients.byURL[url] = c
	return c
}

// CloseClients closes the idle connections of every client.
func CloseClients() {
	clients.Lock()
	defer clients.Unlock()
	for _, c := range clients.byURL {
		c.hc.CloseIdleConnections()
	}
}

// Match returns the matched distance of waypoints.
func (c *MatchClient) Match(ctx context.Context, ws []Waypoint) (float64, error) {
	body, err := json.Marshal(matchRequest{Waypoints: ws})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("map matching: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("map matching: %s", resp.Status)
	}
	var out matchResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, fmt.Errorf("map matching: %w", err)
	}
	if math.IsNaN(out.Km) || out.Km < 0 {
		return 0, errors.New("map matching: bad distance")
	}
	return out.Km, nil
}
