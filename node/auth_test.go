package node

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestEveryMethodAuthenticated calls every method of AdminService and
// BuyerService, unary and streaming, without credentials and with the other
// role's: each is refused before its handler runs, whatever the request.
func TestEveryMethodAuthenticated(t *testing.T) {
	f := newTestFederation(t, 3)
	buyerCtx := f.buyer(t, 0, "acme")
	md, _ := metadata.FromOutgoingContext(buyerCtx)
	asBuyer := metadata.AppendToOutgoingContext(context.Background(), "authorization", md.Get("authorization")[0])
	info := f.nodes[0].n.api.GetServiceInfo()
	checked := 0
	for _, svc := range []string{"cohort.v1.AdminService", "cohort.v1.BuyerService"} {
		si, ok := info[svc]
		if !ok || len(si.Methods) == 0 {
			t.Fatalf("%s is not served", svc)
		}
		wrong := adminCtx() // the admin token is no buyer token
		if strings.HasPrefix(svc, "cohort.v1.Admin") {
			wrong = asBuyer // and a buyer token is no admin token
		}
		for _, m := range si.Methods {
			method := "/" + svc + "/" + m.Name
			for name, ctx := range map[string]context.Context{"no credentials": context.Background(), "the other role's": wrong} {
				var err error
				if m.IsServerStream || m.IsClientStream {
					var s grpc.ClientStream
					s, err = f.conns[0].NewStream(ctx, &grpc.StreamDesc{ServerStreams: m.IsServerStream, ClientStreams: m.IsClientStream}, method)
					if err == nil {
						if err = s.SendMsg(&emptypb.Empty{}); err == nil {
							_ = s.CloseSend()
							err = s.RecvMsg(&emptypb.Empty{})
						}
					}
				} else {
					err = f.conns[0].Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{})
				}
				if c := status.Code(err); c != codes.Unauthenticated && c != codes.PermissionDenied {
					t.Errorf("%s with %s: %v, want Unauthenticated or PermissionDenied", method, name, err)
				}
				checked++
			}
		}
	}
	if checked < 2*(4+8) {
		t.Fatalf("only %d calls checked", checked)
	}
}
