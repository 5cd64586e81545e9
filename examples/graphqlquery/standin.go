package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// standIn is a STAND-IN for a real GraphQL server, so that the example
// runs on its own: a fixed-answer endpoint written with net/http (queries
// and mutations, POST) and coder/websocket (subscriptions, over
// graphql-transport-ws). It does not parse GraphQL: it answers by
// operation name. Point -url at a real server to use one instead.
type standIn struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	// cancel ends the context of every request, so that the
	// subscriptions' handlers, whose connections Shutdown does not track
	// once hijacked, return; wg counts them.
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards carts
	carts map[string]int
}

// startStandIn serves the stand-in on a free port of 127.0.0.1 until
// Close.
func startStandIn() (*standIn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &standIn{ln: ln, done: make(chan struct{}), cancel: cancel, carts: map[string]int{}}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the stand-in's endpoint.
func (s *standIn) URL() string { return "http://" + s.ln.Addr().String() + "/graphql" }

// Close stops the server and waits for it and its handlers.
func (s *standIn) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.cancel()
	s.wg.Wait()
	<-s.done
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/graphql" {
		http.NotFound(w, r)
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// Counted while Serve runs, so that Close waits for it.
		s.wg.Add(1)
		defer s.wg.Done()
		s.subscriptions(w, r)
		return
	}
	var req struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "POST a GraphQL request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/graphql-response+json")
	switch {
	case req.Query == "{__typename}": // the health check
		fmt.Fprint(w, `{"data":{"__typename":"Query"}}`)
	case req.OperationName == "Products":
		// One product's stock fails: partial data, with the error's path.
		fmt.Fprint(w, `{"data":{"products":[{"sku":"A-1","name":"Anvil","stock":12},{"sku":"B-7","name":"Bucket","stock":null}]},`+
			`"errors":[{"message":"the stock service timed out","path":["products",1,"stock"],"extensions":{"code":"UNAVAILABLE"}}]}`)
	case req.OperationName == "AddToCart":
		sku, _ := req.Variables["sku"].(string)
		s.mu.Lock()
		s.carts[sku]++
		n := s.carts[sku]
		s.mu.Unlock()
		fmt.Fprintf(w, `{"data":{"addToCart":{"sku":%q,"quantity":%d}}}`, sku, n)
	default:
		msg, _ := json.Marshal("the stand-in knows no operation " + req.OperationName)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"errors":[{"message":%s,"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`, msg)
	}
}

// subscriptions answers every subscription with three price changes of
// the product its variables name, then complete.
func (s *standIn) subscriptions(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	type message struct {
		ID      string          `json:"id,omitempty"`
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload,omitempty"`
	}
	send := func(m message) error {
		b, _ := json.Marshal(m)
		return c.Write(ctx, websocket.MessageText, b)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var m message
		if json.Unmarshal(b, &m) != nil {
			_ = c.Close(4400, "invalid message")
			return
		}
		switch m.Type {
		case "connection_init":
			_ = send(message{Type: "connection_ack"})
		case "ping":
			_ = send(message{Type: "pong"})
		case "subscribe":
			var p struct {
				Variables struct {
					SKU string `json:"sku"`
				} `json:"variables"`
			}
			_ = json.Unmarshal(m.Payload, &p)
			for i, cents := range []int{1999, 1899, 1749} {
				payload := fmt.Sprintf(`{"data":{"priceChanged":{"sku":%q,"cents":%d,"seq":%d}}}`, p.Variables.SKU, cents, i+1)
				if send(message{ID: m.ID, Type: "next", Payload: json.RawMessage(payload)}) != nil {
					return
				}
			}
			_ = send(message{ID: m.ID, Type: "complete"})
		}
	}
}
