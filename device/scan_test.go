package device

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// scans are the client's scans, each with what encoding/json decodes into
// in its place.
var scans = []struct {
	name string
	scan func(data []byte) (any, bool)
	json func(data []byte) (any, error)
}{
	{"result",
		func(data []byte) (any, bool) { var v Result; ok := v.scan(data); return v, ok },
		func(data []byte) (any, error) { var v Result; err := json.Unmarshal(data, &v); return v, err }},
	{"fetched",
		func(data []byte) (any, bool) { var v challengeJSON; ok := v.scanFetched(data); return v, ok },
		func(data []byte) (any, error) { var v challengeJSON; err := json.Unmarshal(data, &v); return v, err }},
	{"inapp",
		func(data []byte) (any, bool) { var v challengeJSON; ok := v.scanInApp(data); return v, ok },
		func(data []byte) (any, error) { var v challengeJSON; err := json.Unmarshal(data, &v); return v, err }},
}

// serverShape reads the JSON the server writes for name
// (deviceauth's TestAppendJSON_ShapesTheDeviceScans keeps it so).
func serverShape(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "server", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScan_ServerShapes: each scan reads what the server writes, with a
// trailing newline as json.Encoder ends it or without, to what
// encoding/json reads; a refused scan leaves its value as it was.
func TestScan_ServerShapes(t *testing.T) {
	for _, s := range scans {
		shape := bytes.TrimSuffix(serverShape(t, s.name), []byte("\n"))
		for _, data := range [][]byte{shape, append(shape, '\n')} {
			got, ok := s.scan(data)
			if !ok {
				t.Fatalf("%s: the scan refused what the server writes: %s", s.name, data)
			}
			want, err := s.json(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: scanned %+v, encoding/json %+v", s.name, got, want)
			}
		}
		if got, ok := s.scan([]byte(" " + string(serverShape(t, s.name)))); ok {
			t.Fatalf("%s: the scan took a leading space: %+v", s.name, got)
		}
	}
}

// FuzzScanAsDecoder: whatever a scan accepts, encoding/json decodes to the
// same values; what it refuses goes to encoding/json, so the client reads
// every input as before the scans.
func FuzzScanAsDecoder(f *testing.F) {
	for _, s := range scans {
		f.Add(serverShape(f, s.name))
	}
	f.Add([]byte(`{"challengeId":"a","state":"b"}` + "\n"))
	f.Add([]byte(`{"challengeId":"ia_x","action":"a","details":{"message":"","fields":null},"expiresAt":"2026-01-02T03:04:05+01:00","nonce":""}`))
	f.Add([]byte(`{"challengeId":"ch","action":"a","state":"s","nonce":"n","details":{"message":"m","fields":[]},"verificationCodeRequired":false,"method":"QR_CODE","origin":"o","createdAt":"0001-01-01T00:00:00Z","expiresAt":"9999-12-31T23:59:59.999999999-23:59"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range scans {
			got, ok := s.scan(data)
			if !ok {
				continue
			}
			want, err := s.json(data)
			if err != nil {
				t.Fatalf("%s: the scan accepted %q, which encoding/json refuses: %v", s.name, data, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %q: scanned %+v, encoding/json %+v", s.name, data, got, want)
			}
		}
	})
}
