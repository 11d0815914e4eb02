// Package qrcode renders deviceauth QR payloads as PNG images, for
// Config.QRCode. It is the only package that imports the QR encoder
// (github.com/yeqown/go-qrcode/v2), so applications that render QR codes
// themselves never compile it.
//
//	svc, _ := deviceauth.New(deviceauth.Config{…, QRCode: qrcode.PNG})
package qrcode

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	qr "github.com/yeqown/go-qrcode/v2"
)

const (
	// ModulePixels is the size of one QR module in the image.
	ModulePixels = 6
	// QuietZone is the white border, in modules, that scanners need.
	QuietZone = 4
)

// PNG encodes payload as a QR code (error correction level M) and returns
// it as a black-on-white PNG.
func PNG(payload string) ([]byte, error) {
	bitmap, err := Bitmap(payload)
	if err != nil {
		return nil, err
	}
	n := len(bitmap)
	side := (n + 2*QuietZone) * ModulePixels
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y, row := range bitmap {
		for x, dark := range row {
			if !dark {
				continue
			}
			x0, y0 := (x+QuietZone)*ModulePixels, (y+QuietZone)*ModulePixels
			for dy := range ModulePixels {
				for dx := range ModulePixels {
					img.SetColorIndex(x0+dx, y0+dy, 1)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qrcode: %w", err)
	}
	return buf.Bytes(), nil
}

// Bitmap returns the modules of payload's QR code, row by row, true for
// dark.
func Bitmap(payload string) ([][]bool, error) {
	code, err := qr.NewWith(payload, qr.WithErrorCorrectionLevel(qr.ErrorCorrectionMedium))
	if err != nil {
		return nil, fmt.Errorf("qrcode: %w", err)
	}
	var w matrixWriter
	if err := code.Save(&w); err != nil {
		return nil, fmt.Errorf("qrcode: %w", err)
	}
	return w.bitmap, nil
}

// matrixWriter receives the encoder's matrix.
type matrixWriter struct{ bitmap [][]bool }

func (w *matrixWriter) Write(m qr.Matrix) error {
	// Bitmap is indexed [x][y]; rows are wanted.
	cols := m.Bitmap()
	w.bitmap = make([][]bool, len(cols))
	for y := range cols {
		w.bitmap[y] = make([]bool, len(cols))
		for x := range cols {
			w.bitmap[y][x] = cols[x][y]
		}
	}
	return nil
}

func (w *matrixWriter) Close() error { return nil }
