package admin_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/admin"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// ExampleHandler mounts the review page under /admin/, behind the
// application's own admin authentication (here a header standing in for
// it).
func ExampleHandler() {
	key := make([]byte, 32)
	rand.Read(key)
	svc, err := deviceauth.New(deviceauth.Config{Store: memstore.New(), Keys: [][]byte{key}, PublicURL: "https://bank.example/deviceauth"})
	if err != nil {
		panic(err)
	}
	defer svc.Close(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.Handler(svc, admin.Options{
		Operator: func(r *http.Request) (string, error) {
			if op := r.Header.Get("X-Admin"); op != "" { // your admin session instead
				return op, nil
			}
			return "", errors.New("not an admin")
		},
	})))

	for _, op := range []string{"", "ops@bank.example"} {
		req := httptest.NewRequest("GET", "/admin/api/reviews", nil)
		req.Header.Set("X-Admin", op)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 403 {"error":"forbidden","message":"no operator for this request"}
	//
	// 200 {"actions":[]}
}
