package benchmarks

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// kindColors give each output kind the same colour in every panel.
var kindColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// writeAccuracyPlot draws the median relative error of each output kind
// against n, log-log, one panel per ρ, as an SVG at path. A mean's
// relative error is its sum's (n is exact), so one line shows both.
func writeAccuracyPlot(path string, cells map[string]accuracyCell) error {
	row := make([]*plot.Plot, len(accuracyRhos))
	lo, hi := 1.0, 0.0
	for _, c := range cells {
		if c.median > 0 {
			lo, hi = min(lo, c.median), max(hi, c.median)
		}
	}
	for i, rho := range accuracyRhos {
		p := plot.New()
		p.Title.Text = "ρ = " + rho
		p.X.Label.Text = "cohort size n"
		p.Y.Label.Text = "median relative error"
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
		p.X.Min, p.X.Max = float64(accuracySizes[0])/1.5, float64(accuracySizes[len(accuracySizes)-1])*1.5
		p.Y.Min, p.Y.Max = lo/2, hi*2
		p.Add(plotter.NewGrid())
		for k, kind := range accuracyKinds {
			name := kind
			switch kind {
			case "mean":
				continue
			case "sum":
				name = "sum and mean"
			}
			var xys plotter.XYs
			for _, n := range accuracySizes {
				if c := cells[cellKey(kind, n, rho)]; c.median > 0 {
					xys = append(xys, plotter.XY{X: float64(n), Y: c.median})
				}
			}
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return fmt.Errorf("plot %s at ρ = %s: %w", kind, rho, err)
			}
			line.Color, points.Color = kindColors[k], kindColors[k]
			points.Shape = draw.CircleGlyph{}
			p.Add(line, points)
			if i == 0 {
				p.Legend.Add(name, line, points)
			}
		}
		p.Legend.Left, p.Legend.Top = false, true
		row[i] = p
	}
	c := vgsvg.New(vg.Points(float64(330*len(row))), vg.Points(330))
	dc := draw.New(c)
	canvases := plot.Align([][]*plot.Plot{row}, draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Points(8), PadY: vg.Points(8)}, dc)
	for i, p := range row {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
