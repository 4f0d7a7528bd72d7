// Command suppression-go is the Go twin of the Python example service: a per-account suppression list
// with a gRPC API (suppression.v1.SuppressionService, plus gRPC health) and an HTTP JSON API, over
// DynamoDB through aws-sdk-go.
//
//	suppression-go -dynamodb-endpoint URL -grpc-port N -http-port M
//
// Once both ports are bound it prints one JSON line with the addresses
// ({"grpc": "127.0.0.1:PORT", "http": "http://127.0.0.1:PORT"}); on SIGTERM or SIGINT it stops
// accepting, lets running calls finish (bounded) and exits 0. Credentials and region come from the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), as aws-sdk-go reads them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "dualmode.example/gosvc/suppressionpb"
)

func main() {
	os.Exit(run())
}

func fail(format string, args ...interface{}) int {
	fmt.Fprintf(os.Stderr, "suppression-go: error: "+format+"\n", args...)
	return 1
}

func run() int {
	host := flag.String("host", "127.0.0.1", "address to bind both servers to")
	grpcPort := flag.Int("grpc-port", 0, "gRPC port (0 picks a free port)")
	httpPort := flag.Int("http-port", 0, "HTTP port (0 picks a free port)")
	endpoint := flag.String("dynamodb-endpoint", os.Getenv("DYNAMODB_ENDPOINT"), "DynamoDB endpoint URL (default: AWS)")
	table := flag.String("table", "suppressions", "DynamoDB table, created when missing")
	flag.Parse()

	store, err := NewStore(*endpoint, *table)
	if err != nil {
		return fail("DynamoDB at %q is not usable: %v", *endpoint, err)
	}
	grpcLis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*grpcPort)))
	if err != nil {
		return fail("cannot bind the gRPC port: %v", err)
	}
	httpLis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*httpPort)))
	if err != nil {
		return fail("cannot bind the HTTP port: %v", err)
	}

	grpcServer := grpc.NewServer()
	pb.RegisterSuppressionServiceServer(grpcServer, &grpcAPI{store: store})
	healthServer := health.NewServer()
	healthServer.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthServer.SetServingStatus("suppression.v1.SuppressionService", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(grpcServer, healthServer)
	httpServer := &http.Server{Handler: newHTTPAPI(store), ReadHeaderTimeout: 10 * time.Second}

	errs := make(chan error, 2)
	go func() { errs <- grpcServer.Serve(grpcLis) }()
	go func() { errs <- httpServer.Serve(httpLis) }()

	ready, _ := json.Marshal(map[string]string{
		"grpc": grpcLis.Addr().String(),
		"http": "http://" + httpLis.Addr().String(),
	})
	fmt.Println(string(ready))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-stop:
	case err := <-errs:
		return fail("a server stopped: %v", err)
	}
	healthServer.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpServer.Shutdown(ctx)
	done := make(chan struct{})
	go func() { grpcServer.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		grpcServer.Stop()
	}
	return 0
}
