// SPDX-License-Identifier: LGPL-2.1-or-later
// sharp (libvips 8.18 from npm) doing the benchmark jobs in one process:
//   node sharp-crop.js IN OUT X Y W H [FACTOR]
// crop (extract), optionally downsample by FACTOR, and write a tiled
// pyramidal JPEG Q75 BigTIFF with 256² tiles.
const sharp = require(process.env.SHARP_MODULE || 'sharp');

const [input, output, x, y, w, h, factor] = process.argv.slice(2);
let pipeline = sharp(input, { limitInputPixels: false, unlimited: true })
	.extract({ left: +x, top: +y, width: +w, height: +h });
if (factor && +factor !== 1)
	pipeline = pipeline.resize(Math.round(+w / +factor), Math.round(+h / +factor),
		{ kernel: 'lanczos3' });
pipeline
	.tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true,
		compression: 'jpeg', quality: 75, bigtiff: true })
	.toFile(output)
	.catch((err) => { console.error(err.message); process.exit(1); });
