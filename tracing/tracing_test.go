package tracing_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/store/memstore"
	"github.com/deviceauth/deviceauth/tracing"
)

// TestTracing_SpansForTrackAnswerValidate: one cycle gives one span per
// step, children of the caller's span, with the action and the outcome
// and nothing that names the user, the device, the token or the details.
func TestTracing_SpansForTrackAnswerValidate(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	e := cycletest.New(t, memstore.New(), func(c *deviceauth.Config) { c.Trace = tracing.Hook(tp) })
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	res, err := e.Service.Track(ctx, deviceauth.TrackRequest{UserID: e.User, Action: "transfer", Details: cycletest.Details})
	if err != nil {
		t.Fatal(err)
	}
	e.Approve(t, ctx, res.ChallengeID)
	v, err := e.Service.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: e.User, Action: "transfer", Details: cycletest.Details})
	if err != nil || !v.Valid {
		t.Fatalf("Validate = %+v, %v", v, err)
	}
	if v, _ := e.Service.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: e.User, Action: "transfer", Details: cycletest.Details}); v.Valid {
		t.Fatal("validated twice")
	}
	parent.End()

	type span struct{ name, action, outcome string }
	var got []span
	for _, s := range rec.Ended() {
		if s.Name() == "request" {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the caller's span", s.Name())
		}
		sp := span{name: s.Name()}
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case tracing.ActionKey:
				sp.action = kv.Value.AsString()
			case tracing.OutcomeKey:
				sp.outcome = kv.Value.AsString()
			default:
				t.Errorf("%s carries %s", s.Name(), kv.Key)
			}
			for _, secret := range []string{e.User, res.Token, res.ChallengeID, e.Device.CredentialID, cycletest.Details.Message} {
				if strings.Contains(kv.Value.Emit(), secret) {
					t.Errorf("%s carries %q", s.Name(), secret)
				}
			}
		}
		if s.Status().Code == codes.Error {
			t.Errorf("%s failed", s.Name())
		}
		got = append(got, sp)
	}
	want := []span{
		{"deviceauth.track", "transfer", "CHALLENGE_REQUIRED"},
		{"deviceauth.answer", "", "APPROVED"},
		{"deviceauth.validate", "transfer", "valid"},
		{"deviceauth.validate", "transfer", "invalid"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("spans %+v, want %+v", got, want)
	}
}

// TestTracing_StoreFailureIsAnError: a step that fails because the store
// failed ends with status Error and the error code as its outcome.
func TestTracing_StoreFailureIsAnError(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	st := memstore.New()
	e := cycletest.New(t, st, func(c *deviceauth.Config) { c.Trace = tracing.Hook(tp) })
	st.Close()
	if _, err := e.Service.Track(context.Background(), deviceauth.TrackRequest{UserID: e.User, Action: "transfer"}); err == nil {
		t.Fatal("Track over a closed store succeeded")
	}
	spans := rec.Ended()
	last := spans[len(spans)-1]
	if last.Name() != "deviceauth.track" || last.Status().Code != codes.Error || last.Status().Description != "unavailable" {
		t.Fatalf("span %s %+v", last.Name(), last.Status())
	}
}
