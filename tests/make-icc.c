/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* make-icc: writes an ICC profile that is not sRGB, for the tests of
 * save's icc= (tests/icc.sh): an RGB display profile with Adobe RGB
 * (1998) primaries, a D65 white point and gamma 2.2 transfer curves,
 * built with lcms2 (cmsCreateRGBProfile), described as "slidepipe test
 * wide-gamut RGB".
 *
 * usage: make-icc OUT.icc
 */
#include <stdio.h>

#include <lcms2.h>

int
main(int argc, char **argv)
{
	cmsCIExyY d65 = { 0.3127, 0.3290, 1.0 };
	cmsCIExyYTRIPLE primaries = {
		{ 0.6400, 0.3300, 1.0 },
		{ 0.2100, 0.7100, 1.0 },
		{ 0.1500, 0.0600, 1.0 },
	};
	cmsToneCurve *gamma;
	cmsHPROFILE profile;
	cmsMLU *description;
	int ok;

	if (argc != 2) {
		fprintf(stderr, "usage: make-icc OUT.icc\n");
		return 2;
	}
	gamma = cmsBuildGamma(NULL, 2.2);
	profile = cmsCreateRGBProfile(&d65, &primaries,
		(cmsToneCurve *[]) { gamma, gamma, gamma });
	description = cmsMLUalloc(NULL, 1);
	cmsMLUsetASCII(description, "en", "US", "slidepipe test wide-gamut RGB");
	cmsWriteTag(profile, cmsSigProfileDescriptionTag, description);
	ok = profile && cmsSaveProfileToFile(profile, argv[1]);
	cmsMLUfree(description);
	cmsFreeToneCurve(gamma);
	if (profile)
		cmsCloseProfile(profile);
	if (!ok) {
		fprintf(stderr, "make-icc: cannot write %s\n", argv[1]);
		return 1;
	}
	return 0;
}
