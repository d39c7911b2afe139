/* format=ome: the OME-XML that save puts in an OME-TIFF's first
 * ImageDescription. libvips writes the pyramid itself (tiffsave with
 * subifd: levels as SubIFDs of the first directory), the layout
 * Bio-Formats and QuPath read as a pyramid; OpenSlide (3.4.1 and 4.x)
 * reads such a file as generic TIFF and never walks SubIFDs, so it sees
 * one level.
 */
#include "config.h"

#include "sp-private.h"

static char *
format_double(double d)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	return g_strdup(g_ascii_formatd(buf, sizeof(buf), "%.10g", d));
}

char *
_sp_ome_xml(SpNode *node, int width, int height, int bands)
{
	const SpGeometry *g = &node->geom;
	GString *s = g_string_new(NULL);
	double power = _sp_slide_objective_power(node->slide);
	g_autofree char *base = g_path_get_basename(sp_slide_get_path(node->slide));
	g_autofree char *name = g_markup_escape_text(base, -1);

	g_string_append(s,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" "
		"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
		"xsi:schemaLocation=\"http://www.openmicroscopy.org/Schemas/OME/"
		"2016-06 http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd\" "
		"Creator=\"slidepipe " PACKAGE_VERSION "\">\n");
	if (power > 0) {
		g_autofree char *m = format_double(power / g->downsample_x);
		g_string_append_printf(s,
			"<Instrument ID=\"Instrument:0\"><Objective ID=\"Objective:0\" "
			"NominalMagnification=\"%s\"/></Instrument>\n",
			m);
	}
	g_string_append_printf(s, "<Image ID=\"Image:0\" Name=\"%s\">\n", name);
	if (power > 0)
		g_string_append(s, "<InstrumentRef ID=\"Instrument:0\"/>"
						   "<ObjectiveSettings ID=\"Objective:0\"/>\n");
	g_string_append_printf(s,
		"<Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" Type=\"uint8\" "
		"SizeX=\"%d\" SizeY=\"%d\" SizeC=\"%d\" SizeZ=\"1\" SizeT=\"1\" "
		"Interleaved=\"true\"",
		width, height, bands);
	if (g->mpp_x > 0 && g->mpp_y > 0) {
		g_autofree char *x = format_double(g->mpp_x);
		g_autofree char *y = format_double(g->mpp_y);
		g_string_append_printf(s,
			" PhysicalSizeX=\"%s\" PhysicalSizeXUnit=\"\302\265m\""
			" PhysicalSizeY=\"%s\" PhysicalSizeYUnit=\"\302\265m\"",
			x, y);
	}
	g_string_append_printf(s,
		">\n<Channel ID=\"Channel:0:0\" SamplesPerPixel=\"%d\"><LightPath/>"
		"</Channel>\n<TiffData IFD=\"0\" PlaneCount=\"1\"/>\n</Pixels>\n"
		"</Image>\n</OME>\n",
		bands);
	return g_string_free(s, FALSE);
}
