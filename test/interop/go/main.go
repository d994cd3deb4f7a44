// ttrpc-peer: the reference Go containerd/ttrpc peer for the interop tests and the benchmark.
//
//	ttrpc-peer server --socket PATH                  serve hypervisor.Hypervisor and bench.Echo; prints READY
//	ttrpc-peer client --socket PATH --scenario NAME  call a server, one JSON line per result on stdout
//
// Client calls carry deadlines as the Go Kata shim's do (context.WithTimeout: timeout_nano is the time
// left when the request is written, fractional milliseconds) unless a scenario tests another shape.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func main() {
	if len(os.Args) < 2 {
		fatal(errors.New("usage: ttrpc-peer server|client --socket PATH [--scenario NAME]"))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	socket := fs.String("socket", "", "unix socket path")
	scenario := fs.String("scenario", "", "client scenario")
	_ = fs.Parse(os.Args[2:])
	if *socket == "" {
		fatal(errors.New("--socket is required"))
	}
	switch os.Args[1] {
	case "server":
		fatal(runServer(*socket))
	case "client":
		fatal(runClient(*socket, *scenario))
	default:
		fatal(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}

func fatal(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ttrpc-peer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// ---- server ---------------------------------------------------------------------------------

func runServer(socket string) error {
	_ = os.Remove(socket)
	l, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	s, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	s.Register("hypervisor.Hypervisor", map[string]ttrpc.Method{
		"CreateVM": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req CreateVMRequest
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return &CreateVMResponse{AgentSocketPath: "/run/peerpod/pods/" + req.Id + "/agent.ttrpc"}, nil
		},
		"StartVM": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req IdRequest
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			if req.Id == "sleep" {
				<-ctx.Done() // until the caller's timeout_nano passes
				return nil, ctx.Err()
			}
			return &Empty{}, nil
		},
		"StopVM": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req IdRequest
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			if req.Id == "missing" {
				return nil, status.Errorf(codes.NotFound, "vm %q not found", req.Id)
			}
			return &Empty{}, nil
		},
		"Version": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req Version
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return &Version{Version: "0.0.0"}, nil
		},
	})
	s.Register("bench.Echo", map[string]ttrpc.Method{
		"Echo": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req Raw
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return &req, nil
		},
	})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		_ = s.Close()
		_ = os.Remove(socket)
		os.Exit(0)
	}()

	fmt.Println("READY")
	err = s.Serve(context.Background(), l)
	if errors.Is(err, ttrpc.ErrServerClosed) {
		return nil
	}
	return err
}

// ---- client ---------------------------------------------------------------------------------

// holdKey in a call's context makes the interceptor wait this long locally while timeout_nano still
// carries the original deadline, so the status the caller sees is the one the server sent.
type holdKey struct{}

// timeoutKey overrides the timeout_nano that goes on the wire.
type timeoutKey struct{}

// sentKey carries an *int64 that receives the timeout_nano the call put on the wire.
type sentKey struct{}

func holdInterceptor(ctx context.Context, req *ttrpc.Request, resp *ttrpc.Response, _ *ttrpc.UnaryClientInfo, invoke ttrpc.Invoker) error {
	if t, ok := ctx.Value(timeoutKey{}).(int64); ok {
		req.TimeoutNano = t
	}
	if sent, ok := ctx.Value(sentKey{}).(*int64); ok {
		*sent = req.TimeoutNano
	}
	if hold, ok := ctx.Value(holdKey{}).(time.Duration); ok {
		local, cancel := context.WithTimeout(context.Background(), hold)
		defer cancel()
		return invoke(local, req, resp)
	}
	return invoke(ctx, req, resp)
}

type result map[string]interface{}

var outMu sync.Mutex

func emit(r result) {
	b, _ := json.Marshal(r)
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Println(string(b))
}

// outcome turns a call error into code/message; `local` marks errors that never came off the wire.
func outcome(call string, err error, start time.Time) result {
	r := result{"call": call, "code": 0, "elapsedMs": time.Since(start).Milliseconds()}
	if err == nil {
		return r
	}
	if st, ok := status.FromError(err); ok {
		r["code"], r["message"] = int(st.Code()), st.Message()
		return r
	}
	r["local"] = true
	r["message"] = err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		r["code"] = int(codes.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		r["code"] = int(codes.Canceled)
	default:
		r["code"] = int(codes.Unknown)
	}
	return r
}

const annotationPrefix = "io.katacontainers.config.hypervisor."

// shimTimeout is the budget the Go shim gives a call. Like the shim, every call below runs under a
// context.WithTimeout, so Go's client writes timeout_nano as the time left at the moment of sending
// (time.Until(deadline)): fractional milliseconds such as 299999986254 ns, never a round number.
const shimTimeout = 300 * time.Second

// shimCall runs one call under its own shimTimeout context and records the timeout_nano it sent.
func shimCall(name string, parent context.Context, do func(ctx context.Context) error) result {
	var sent int64
	ctx, cancel := context.WithTimeout(context.WithValue(parent, sentKey{}, &sent), shimTimeout)
	defer cancel()
	start := time.Now()
	r := outcome(name, do(ctx), start)
	r["timeoutNano"] = sent
	return r
}

func runClient(socket, scenario string) error {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return err
	}
	c := ttrpc.NewClient(conn, ttrpc.WithUnaryClientInterceptor(holdInterceptor))
	defer c.Close()
	bg := context.Background()
	call := func(ctx context.Context, method string, req, resp interface{}) error {
		return c.Call(ctx, "hypervisor.Hypervisor", method, req, resp)
	}
	// shimVersion is a Version call as the shim makes it (see shimCall), with the version answered.
	shimVersion := func(sent string) result {
		var resp Version
		r := shimCall("Version", bg, func(ctx context.Context) error { return call(ctx, "Version", &Version{Version: sent}, &resp) })
		r["version"] = resp.Version
		return r
	}

	switch scenario {
	case "createvm":
		req := &CreateVMRequest{
			Id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Annotations: map[string]string{
				"io.kubernetes.cri.sandbox-name":       "nginx-7f8d9",
				"io.kubernetes.cri.sandbox-namespace":  "default",
				annotationPrefix + "machine_type":      "Standard_DC2as_v5",
				annotationPrefix + "image":             "",
				annotationPrefix + "default_vcpus":     "2",
				annotationPrefix + "default_memory":    "4096",
				annotationPrefix + "cc_init_data":      "",
				annotationPrefix + "default_gpus":      "0",
				annotationPrefix + "default_gpu_model": "",
			},
			NetworkNamespacePath: "/var/run/netns/cni-1234",
		}
		md := ttrpc.WithMetadata(bg, ttrpc.MD{"x-interop": {"go"}})
		var resp CreateVMResponse
		r := shimCall("CreateVM", md, func(ctx context.Context) error { return call(ctx, "CreateVM", req, &resp) })
		r["agentSocketPath"] = resp.AgentSocketPath
		emit(r)
	case "version":
		emit(shimVersion("go"))
	case "no-deadline":
		// A context without a deadline: timeout_nano 0, which ttrpc reads as "no deadline".
		var resp Version
		start := time.Now()
		r := outcome("Version", call(bg, "Version", &Version{Version: "none"}, &resp), start)
		r["version"] = resp.Version
		emit(r)
	case "startvm-timeout":
		// 1) A plain 200 ms deadline: whichever side notices first wins (usually the local context).
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		start := time.Now()
		r := outcome("StartVM", call(ctx, "StartVM", &IdRequest{Id: "slow"}, &Empty{}), start)
		cancel()
		emit(r)
		// 2) Same 200 ms timeout_nano, but wait up to 5 s locally: the status must come from the server.
		ctx, cancel = context.WithTimeout(context.WithValue(bg, holdKey{}, 5*time.Second), 200*time.Millisecond)
		start = time.Now()
		r = outcome("StartVM", call(ctx, "StartVM", &IdRequest{Id: "slow"}, &Empty{}), start)
		cancel()
		r["variant"] = "server-deadline"
		emit(r)
	case "long-deadline":
		// A deadline beyond Node's 2^31-1 ms timer limit (~24.8 days) must not fire early.
		ctx, cancel := context.WithTimeout(bg, 30*24*time.Hour)
		defer cancel()
		var resp Version
		start := time.Now()
		r := outcome("Version", call(ctx, "Version", &Version{Version: "far"}, &resp), start)
		r["version"] = resp.Version
		emit(r)
	case "expired-deadline":
		// Go's client sends a negative timeout_nano when the context ends between Call computing it and
		// the send; Go servers then run the method with an already-expired context. Forced here, with
		// a 2 s local wait so the answer must come from the server. (-50 µs: a realistic late send.)
		ctx := context.WithValue(context.WithValue(bg, holdKey{}, 2*time.Second), timeoutKey{}, int64(-50_000))
		start := time.Now()
		emit(outcome("StartVM", call(ctx, "StartVM", &IdRequest{Id: "sleep"}, &Empty{}), start))
	case "oversized":
		// Go's 1.1.1 client sends frames over 4 MiB; the server must answer on that stream and go on.
		req := &CreateVMRequest{Id: "big", Annotations: map[string]string{"big": string(make([]byte, 5<<20))}}
		emit(shimCall("CreateVM", bg, func(ctx context.Context) error { return call(ctx, "CreateVM", req, &CreateVMResponse{}) }))
		emit(shimVersion("after"))
	case "agent":
		// The Go shim's first calls on agent.ttrpc, each with its own deadline: Health.Check, then agent methods.
		var health HealthCheckResponse
		r := shimCall("Health.Check", bg, func(ctx context.Context) error {
			return c.Call(ctx, "grpc.Health", "Check", &Version{Version: ""}, &health)
		})
		r["status"] = health.Status
		emit(r)
		emit(shimCall("ExecProcess", bg, func(ctx context.Context) error {
			return c.Call(ctx, "grpc.AgentService", "ExecProcess", &Empty{}, &Empty{})
		}))
		emit(shimCall("StartContainer", bg, func(ctx context.Context) error {
			return c.Call(ctx, "grpc.AgentService", "StartContainer", &Empty{}, &Empty{})
		}))
	case "unknown-method":
		emit(shimCall("Nope", bg, func(ctx context.Context) error { return call(ctx, "Nope", &Empty{}, &Empty{}) }))
		emit(shimCall("nope.Service/Nope", bg, func(ctx context.Context) error {
			return c.Call(ctx, "nope.Service", "Nope", &Empty{}, &Empty{})
		}))
	case "concurrent":
		const n = 100
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := shimVersion(fmt.Sprint(i))
				r["i"] = i
				emit(r)
			}(i)
		}
		wg.Wait()
	default:
		return fmt.Errorf("unknown scenario %q", scenario)
	}
	return nil
}
