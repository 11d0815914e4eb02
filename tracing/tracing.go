// Package tracing gives a deviceauth Service OpenTelemetry spans for its
// main steps — Track, a device's answer and Validate — through the
// OpenTelemetry API, with the tracer provider the application supplies
// (the library bundles no exporter). It is a package of its own so that
// applications without OpenTelemetry do not compile it.
//
//	svc, err := deviceauth.New(deviceauth.Config{…, Trace: tracing.Hook(otel.GetTracerProvider())})
//
// Spans are named deviceauth.track, deviceauth.answer and
// deviceauth.validate, children of the span in the step's context (the
// request's, for the endpoints and Require). Their attributes are the
// action (deviceauth.action, the application's own name) and the outcome
// (deviceauth.outcome: a state such as CHALLENGE_REQUIRED or APPROVED,
// "valid" or "invalid", or an error code, which also sets the span's
// status to Error for a failure of the service). Never a user ID,
// credential ID, token, code, IP or details.
package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the spans.
const (
	ActionKey  = attribute.Key("deviceauth.action")
	OutcomeKey = attribute.Key("deviceauth.outcome")
)

// InstrumentationName names the tracer the spans come from.
const InstrumentationName = "github.com/deviceauth/deviceauth"

// Hook returns a deviceauth.Config.Trace that starts a span for each step
// with a tracer of tp.
func Hook(tp trace.TracerProvider) func(ctx context.Context, step, action string) (context.Context, func(outcome string)) {
	tracer := tp.Tracer(InstrumentationName)
	return func(ctx context.Context, step, action string) (context.Context, func(string)) {
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
		if action != "" {
			opts = append(opts, trace.WithAttributes(ActionKey.String(action)))
		}
		ctx, span := tracer.Start(ctx, "deviceauth."+step, opts...)
		return ctx, func(outcome string) {
			span.SetAttributes(OutcomeKey.String(outcome))
			if outcome == "unavailable" {
				span.SetStatus(codes.Error, outcome)
			}
			span.End()
		}
	}
}
