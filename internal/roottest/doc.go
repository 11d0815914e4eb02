// Package roottest holds the tests of the root package deviceauth that go
// through its public API: the flows over HTTP, the OpenAPI contract, QR
// sign-in across instances, mounting under a router, attestation, the
// benchmarks. It has no code of its own.
//
// They live here, not beside the root package, because Go counts a
// package's tests as part of what an importer needs: go mod tidy in an
// application that imports deviceauth records checksums for, and
// downloads, every module the root package's tests import. These tests
// import kin-openapi, chi, go-redis, miniredis, attest (CBOR) and qrcode
// (QR rendering); no application imports this package, so none of that
// reaches an application's go.sum. The root keeps its white-box tests
// (package deviceauth), the fuzz targets, the protocol vectors and the
// examples, whose imports are the root's own. The TestImports tests keep it
// so: they fail when an application importing deviceauth would compile, or
// find in its go.sum, a module beyond the few listed there. See "What an
// adopter pays for" in docs/architecture.md and .ci/depfigures.sh.
package roottest
