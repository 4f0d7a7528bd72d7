package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "dualmode.example/gosvc/suppressionpb"
)

// grpcAPI serves suppression.v1.SuppressionService over the store.
type grpcAPI struct {
	pb.UnimplementedSuppressionServiceServer
	store *Store
}

func toProto(r Suppression) *pb.Suppression {
	return &pb.Suppression{
		AccountId: r.AccountID, Email: r.Email, Reason: r.Reason, CreatedAt: timestamppb.New(r.CreatedAt),
	}
}

func grpcError(err error) error {
	var se *ServiceError
	if errors.As(err, &se) {
		if se.Kind == NotFound {
			return status.Error(codes.NotFound, se.Message)
		}
		return status.Error(codes.InvalidArgument, se.Message)
	}
	log.Printf("internal error: %v", err)
	return status.Error(codes.Internal, "internal error")
}

func (a *grpcAPI) Add(_ context.Context, req *pb.AddRequest) (*pb.AddResponse, error) {
	rec, created, err := a.store.Add(req.AccountId, req.Email, req.Reason)
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.AddResponse{Suppression: toProto(rec), Created: created}, nil
}

func (a *grpcAPI) Get(_ context.Context, req *pb.GetRequest) (*pb.Suppression, error) {
	rec, err := a.store.Get(req.AccountId, req.Email)
	if err != nil {
		return nil, grpcError(err)
	}
	return toProto(rec), nil
}

func (a *grpcAPI) List(_ context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	page, next, err := a.store.List(req.AccountId, int(req.PageSize), req.PageToken)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &pb.ListResponse{NextPageToken: next}
	for _, rec := range page {
		out.Suppressions = append(out.Suppressions, toProto(rec))
	}
	return out, nil
}

func (a *grpcAPI) Delete(_ context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	if err := a.store.Delete(req.AccountId, req.Email); err != nil {
		return nil, grpcError(err)
	}
	return &pb.DeleteResponse{}, nil
}

func (a *grpcAPI) Export(req *pb.ExportRequest, stream pb.SuppressionService_ExportServer) error {
	if err := a.store.Export(req.AccountId, func(r Suppression) error { return stream.Send(toProto(r)) }); err != nil {
		return grpcError(err)
	}
	return nil
}

// The HTTP JSON API: the Python example's routes and JSON shapes.
const prefix = "/v1/suppressions"

func toJSON(r Suppression) map[string]string {
	return map[string]string{
		"account_id": r.AccountID, "email": r.Email, "reason": r.Reason,
		"created_at": r.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
}

func writeJSON(w http.ResponseWriter, code int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, err error) {
	code, name, msg := http.StatusInternalServerError, "INTERNAL", "internal error"
	var se *ServiceError
	if errors.As(err, &se) {
		code, name, msg = http.StatusBadRequest, "INVALID_ARGUMENT", se.Message
		if se.Kind == NotFound {
			code, name = http.StatusNotFound, "NOT_FOUND"
		}
	} else {
		log.Printf("internal error: %v", err)
	}
	writeJSON(w, code, map[string]interface{}{"error": map[string]string{"code": name, "message": msg}})
}

func newHTTPAPI(store *Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "SERVING"})
	})
	mux.HandleFunc(prefix, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]interface{}{
				"error": map[string]string{"code": "METHOD_NOT_ALLOWED", "message": "use POST"}})
			return
		}
		var body struct {
			AccountID *string `json:"account_id"`
			Email     *string `json:"email"`
			Reason    string  `json:"reason"`
		}
		raw, err := io.ReadAll(io.LimitReader(r.Body, 64*1024))
		if err != nil || json.Unmarshal(raw, &body) != nil || body.AccountID == nil || body.Email == nil {
			writeError(w, invalid(`send a JSON object {"account_id": ..., "email": ..., "reason": ...}`))
			return
		}
		rec, created, err := store.Add(*body.AccountID, *body.Email, body.Reason)
		if err != nil {
			writeError(w, err)
			return
		}
		code := http.StatusOK
		if created {
			code = http.StatusCreated
		}
		w.Header().Set("Location", fmt.Sprintf("%s/%s/%s", prefix, rec.AccountID, rec.Email))
		writeJSON(w, code, map[string]interface{}{"suppression": toJSON(rec), "created": created})
	})
	mux.HandleFunc(prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, prefix+"/"), "/")
		switch {
		case len(parts) == 1 && strings.HasSuffix(parts[0], ":export") && r.Method == http.MethodGet:
			exportHTTP(w, store, strings.TrimSuffix(parts[0], ":export"))
		case len(parts) == 1 && r.Method == http.MethodGet:
			size := 0
			if v := r.URL.Query().Get("page_size"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					writeError(w, invalid("page_size must be a number 1-100"))
					return
				}
				size = n
			}
			page, next, err := store.List(parts[0], size, r.URL.Query().Get("page_token"))
			if err != nil {
				writeError(w, err)
				return
			}
			items := make([]map[string]string, 0, len(page))
			for _, rec := range page {
				items = append(items, toJSON(rec))
			}
			writeJSON(w, http.StatusOK, map[string]interface{}{"suppressions": items, "next_page_token": next})
		case len(parts) == 2 && r.Method == http.MethodGet:
			rec, err := store.Get(parts[0], parts[1])
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, toJSON(rec))
		case len(parts) == 2 && r.Method == http.MethodDelete:
			if err := store.Delete(parts[0], parts[1]); err != nil {
				writeError(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusNotFound, map[string]interface{}{
				"error": map[string]string{"code": "NOT_FOUND", "message": "no such route"}})
		}
	})
	return mux
}

func exportHTTP(w http.ResponseWriter, store *Store, account string) {
	if err := checkAccount(account); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	_ = store.Export(account, func(r Suppression) error { return enc.Encode(toJSON(r)) })
}

