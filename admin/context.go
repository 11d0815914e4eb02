package admin

import (
	"context"
	"net/http"
)

func contextWith(r *http.Request, operator string) context.Context {
	return context.WithValue(r.Context(), operatorKey{}, operator)
}

// operatorOf is who makes r, as Options.Operator named them.
func operatorOf(r *http.Request) string {
	op, _ := r.Context().Value(operatorKey{}).(string)
	return op
}
