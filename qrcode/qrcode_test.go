package qrcode

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
)

const payload = "https://app.example.com/deviceauth/v1/qr/claim#c=Y5ogxahQPhlNh774AS-tjw&s=paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU"

func TestPNG_PixelsMatchTheModules(t *testing.T) {
	bitmap, err := Bitmap(payload)
	if err != nil {
		t.Fatal(err)
	}
	n := len(bitmap)
	if n < 21 || (n-17)%4 != 0 {
		t.Fatalf("a QR code is 17+4v modules wide; got %d", n)
	}
	// The three finder patterns: dark 7×7 rings at three corners.
	for _, c := range [][2]int{{0, 0}, {0, n - 7}, {n - 7, 0}} {
		for i := range 7 {
			if !bitmap[c[0]][c[1]+i] || !bitmap[c[0]+6][c[1]+i] || !bitmap[c[0]+i][c[1]] || !bitmap[c[0]+i][c[1]+6] {
				t.Fatalf("no finder pattern at %v", c)
			}
		}
		if bitmap[c[0]+1][c[1]+1] || !bitmap[c[0]+3][c[1]+3] {
			t.Fatalf("finder pattern at %v is not ring-and-centre", c)
		}
	}
	if bitmap[n-7][n-7] && bitmap[n-1][n-1] && bitmap[n-7][n-1] {
		t.Fatal("a fourth finder pattern")
	}
	data, err := PNG(payload)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	side := (n + 2*QuietZone) * ModulePixels
	if b := img.Bounds(); b.Dx() != side || b.Dy() != side {
		t.Fatalf("image %v, want %d×%d", b, side, side)
	}
	dark := func(x, y int) bool { r, _, _, _ := img.At(x, y).RGBA(); return r < 0x8000 }
	for y := range side {
		for x := range side {
			mx, my := x/ModulePixels-QuietZone, y/ModulePixels-QuietZone
			want := mx >= 0 && my >= 0 && mx < n && my < n && bitmap[my][mx]
			if dark(x, y) != want {
				t.Fatalf("pixel (%d,%d) dark=%v, module (%d,%d) dark=%v", x, y, dark(x, y), mx, my, want)
			}
		}
	}
}

func TestBitmap_DiffersByPayload(t *testing.T) {
	a, _ := Bitmap(payload)
	b, _ := Bitmap(strings.Replace(payload, "Y5og", "Z5og", 1))
	same := len(a) == len(b)
	for y := range a {
		for x := range a[y] {
			if same && a[y][x] != b[y][x] {
				same = false
			}
		}
	}
	if same {
		t.Fatal("two payloads gave the same code")
	}
}
