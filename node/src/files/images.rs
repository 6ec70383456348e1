//! Pictures the owner attaches to a listing: checked by their bytes, stripped of location data,
//! and given a thumbnail, before anything is stored.

use std::io::Cursor;

use haggle_protocol::ImageType;
use haggle_protocol::blob::{MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, MAX_THUMB_BYTES};

/// Largest thumbnail side tried first, in pixels; smaller ones follow until it fits.
const THUMB_SIDES: [u32; 4] = [320, 240, 160, 96];
/// JPEG qualities tried for a thumbnail, best first.
const THUMB_QUALITIES: [u8; 3] = [75, 55, 35];
/// Memory one picture may take to decode (a 16384 x 16384 picture does not fit; 8000 x 6000
/// does).
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// Why a picture cannot be attached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Its first bytes are none of the formats taken.
    #[error("not a picture: a JPEG, PNG, WebP or GIF file is needed (its content is checked, not its name)")]
    NotAnImage,
    /// Over the size limit, after stripping.
    #[error("the picture is {:.1} MiB once its metadata is removed, over the 2 MiB limit: make it smaller", *.0 as f64 / 1_048_576.0)]
    TooLarge(u64),
    /// It does not decode.
    #[error("the picture is damaged or not fully a {0}: {1}")]
    Damaged(&'static str, String),
    /// It is larger than a picture may be.
    #[error("the picture is {0} x {1} pixels, over the limit of {MAX_IMAGE_SIDE} a side")]
    TooManyPixels(u32, u32),
}

/// A picture ready to store: its bytes (stripped unless asked otherwise), format, size in
/// pixels, and its JPEG thumbnail.
#[derive(Debug)]
pub struct Prepared {
    /// The picture as it will be stored and sent.
    pub bytes: Vec<u8>,
    /// Its format.
    pub kind: ImageType,
    /// Width and height in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// A JPEG of at most [`MAX_THUMB_BYTES`].
    pub thumb: Vec<u8>,
    /// Whether location (and other camera) metadata was removed.
    pub stripped: bool,
}

/// Checks a picture, strips its metadata unless `keep_metadata`, and makes its thumbnail.
///
/// A picture whose EXIF says to turn it (phones store pictures as the sensor saw them, with an
/// orientation tag) is stored turned, as it is meant to be seen, since stripping the EXIF drops
/// the tag: a JPEG is encoded again (quality 90), a PNG losslessly.
pub fn prepare(bytes: Vec<u8>, keep_metadata: bool) -> Result<Prepared, ImageError> {
    let kind = ImageType::sniff(&bytes).ok_or(ImageError::NotAnImage)?;
    let name = kind.extension();
    let (decoded, turned) = decode(&bytes, kind)?;
    let (bytes, stripped) = match (keep_metadata, turned) {
        (true, _) => (bytes, false),
        (false, true) if matches!(kind, ImageType::Jpeg | ImageType::Png) => {
            (encode(&decoded, kind).map_err(|e| ImageError::Damaged(name, e))?, true)
        }
        (false, _) => (strip(kind, bytes)?, true),
    };
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge(bytes.len() as u64));
    }
    let (width, height) = (decoded.width(), decoded.height());
    // A JPEG as small as a thumbnail is its own (a trial's 543-byte picture had a 10 KB one):
    // stripped only, since every node fetches thumbnails (a picture whose metadata the owner
    // kept goes only to those who look at it), and stripping leaves it turned as seen.
    let own = stripped
        && kind == ImageType::Jpeg
        && width.max(height) <= THUMB_SIDES[0]
        && bytes.len() as u64 <= MAX_THUMB_BYTES;
    let thumb =
        if own { bytes.clone() } else { thumbnail(&decoded).map_err(|e| ImageError::Damaged(name, e))? };
    Ok(Prepared { bytes, kind, width, height, thumb, stripped })
}

/// What a stored picture is, from its bytes alone: its format and its size in pixels as its
/// header says (before any EXIF turn), or `None` if it is no picture of a format taken.
pub fn describe(bytes: &[u8]) -> Option<(ImageType, u32, u32)> {
    let kind = ImageType::sniff(bytes)?;
    let (width, height) =
        image::ImageReader::with_format(Cursor::new(bytes), format(kind)).into_dimensions().ok()?;
    Some((kind, width, height))
}

/// Decodes a picture within the limits, turned as its EXIF orientation says; and whether it
/// had to be turned.
fn decode(bytes: &[u8], kind: ImageType) -> Result<(image::DynamicImage, bool), ImageError> {
    use image::ImageDecoder;
    let name = kind.extension();
    let damaged = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => {
            // Its size, read from the header alone.
            let (w, h) = image::ImageReader::with_format(Cursor::new(bytes), format(kind))
                .into_dimensions()
                .unwrap_or((0, 0));
            ImageError::TooManyPixels(w, h)
        }
        other => ImageError::Damaged(name, other.to_string()),
    };
    // JPEG decoders fill a picture cut short with grey: its end-of-image marker tells.
    if kind == ImageType::Jpeg && primary_end(bytes).is_none() {
        return Err(ImageError::Damaged(name, "it ends before its picture does (cut short?)".into()));
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format(kind));
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(damaged)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut decoded = image::DynamicImage::from_decoder(decoder).map_err(damaged)?;
    let (width, height) = (decoded.width(), decoded.height());
    if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(ImageError::TooManyPixels(width, height));
    }
    let turned = orientation != image::metadata::Orientation::NoTransforms;
    if turned {
        decoded.apply_orientation(orientation);
    }
    Ok((decoded, turned))
}

/// A JPEG or PNG encoded again, without metadata. (Only the encoders of these two are linked:
/// a turned WebP, which cameras do not make, keeps its pixels as they are.)
fn encode(picture: &image::DynamicImage, kind: ImageType) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    match kind {
        ImageType::Png => image::codecs::png::PngEncoder::new(&mut out).write_image(
            picture.as_bytes(),
            picture.width(),
            picture.height(),
            picture.color().into(),
        ),
        _ => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&picture.to_rgb8())
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(out)
}

fn format(kind: ImageType) -> image::ImageFormat {
    match kind {
        ImageType::Jpeg => image::ImageFormat::Jpeg,
        ImageType::Png => image::ImageFormat::Png,
        ImageType::Webp => image::ImageFormat::WebP,
        ImageType::Gif => image::ImageFormat::Gif,
    }
}

/// Removes EXIF (where cameras and phones put GPS position, time and device), XMP and IPTC
/// metadata, without decoding or re-encoding the pixels. GIF carries none.
fn strip(kind: ImageType, bytes: Vec<u8>) -> Result<Vec<u8>, ImageError> {
    use img_parts::{Bytes, ImageEXIF};
    let damaged = |e: img_parts::Error| ImageError::Damaged(kind.extension(), e.to_string());
    let input = Bytes::from(bytes);
    let out = match kind {
        ImageType::Jpeg => {
            let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(input).map_err(damaged)?;
            jpeg.set_exif(None);
            // APP1 holds EXIF and XMP; APP13 holds Photoshop's IPTC block; COM is free text;
            // an APP2 `MPF` block indexes further pictures (with their own EXIF) appended
            // after the first. APP2 `ICC_PROFILE` (the colours) stays.
            jpeg.remove_segments_by_marker(0xE1);
            jpeg.remove_segments_by_marker(0xED);
            jpeg.remove_segments_by_marker(0xFE);
            jpeg.segments_mut().retain(|s| !(s.marker() == 0xE2 && s.contents().starts_with(b"MPF\0")));
            let mut bytes = jpeg.encoder().bytes().to_vec();
            // What follows the first picture is dropped.
            if let Some(end) = primary_end(&bytes) {
                bytes.truncate(end);
            }
            return Ok(bytes);
        }
        ImageType::Png => {
            let mut png = img_parts::png::Png::from_bytes(input).map_err(damaged)?;
            png.set_exif(None);
            for text in [*b"tEXt", *b"zTXt", *b"iTXt"] {
                png.remove_chunks_by_type(text);
            }
            png.encoder().bytes()
        }
        ImageType::Webp => {
            let mut webp = img_parts::webp::WebP::from_bytes(input).map_err(damaged)?;
            webp.set_exif(None);
            webp.remove_chunks_by_id(*b"XMP ");
            webp.encoder().bytes()
        }
        ImageType::Gif => {
            let kept = strip_gif(&input)
                .ok_or_else(|| ImageError::Damaged("gif", "its blocks do not parse".into()))?;
            return Ok(kept);
        }
    };
    Ok(out.to_vec())
}

/// A GIF without its comments and application blocks (XMP and the like), keeping the looping
/// block animations need (`NETSCAPE2.0`, `ANIMEXTS1.0`) and nothing after the trailer. `None`
/// if its blocks do not parse.
fn strip_gif(gif: &[u8]) -> Option<Vec<u8>> {
    /// The end of the sub-blocks starting at `at` (past their zero terminator).
    fn sub_blocks(gif: &[u8], mut at: usize) -> Option<usize> {
        loop {
            let n = usize::from(*gif.get(at)?);
            at += 1 + n;
            if n == 0 {
                return Some(at);
            }
        }
    }
    let table = |packed: u8| if packed & 0x80 != 0 { 3 << ((packed & 7) + 1) } else { 0 };
    let mut at = 13 + table(*gif.get(10)?);
    let mut out = gif.get(..at)?.to_vec();
    loop {
        match *gif.get(at)? {
            0x3B => {
                out.push(0x3B);
                return Some(out);
            }
            0x2C => {
                let start = at;
                at += 10 + table(*gif.get(at + 9)?) + 1;
                at = sub_blocks(gif, at)?;
                out.extend_from_slice(gif.get(start..at)?);
            }
            0x21 => {
                let start = at;
                let label = *gif.get(at + 1)?;
                let app = gif.get(at + 3..at + 14);
                at = sub_blocks(gif, at + 2)?;
                let keep = match label {
                    0xFE => false,
                    0xFF => matches!(app, Some(b"NETSCAPE2.0" | b"ANIMEXTS1.0")),
                    _ => true,
                };
                if keep {
                    out.extend_from_slice(gif.get(start..at)?);
                }
            }
            _ => return None,
        }
    }
}

/// Where a JPEG's first picture ends: just past the first end-of-image marker after its first
/// scan (a marker cannot occur inside scan data, where `FF` is always followed by `00` or a
/// restart marker). The marker segments before the scan are walked by their lengths, so a
/// thumbnail inside the EXIF segment (a JPEG of its own, with its own end marker) is skipped
/// whole. `None` if the picture is cut short (no end marker, or no scan). What follows the end
/// (further pictures of a multi-picture file, camera trailers) carries metadata of its own.
fn primary_end(jpeg: &[u8]) -> Option<usize> {
    let mut at = 2;
    while let (Some(0xFF), Some(&marker)) = (jpeg.get(at), jpeg.get(at + 1)) {
        match marker {
            // A fill byte before a marker.
            0xFF => at += 1,
            0xDA => return jpeg[at..].windows(2).position(|w| w == [0xFF, 0xD9]).map(|end| at + end + 2),
            // Markers without a segment.
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let [hi, lo] = *jpeg.get(at + 2..at + 4)? else { return None };
                at += 2 + usize::from(u16::from_be_bytes([hi, lo]));
            }
        }
    }
    None
}

/// The largest JPEG thumbnail, from the sizes and qualities above, that fits the limit; never
/// larger than the picture.
fn thumbnail(picture: &image::DynamicImage) -> Result<Vec<u8>, String> {
    // A picture smaller than a side is tried once at its own size.
    let longest = picture.width().max(picture.height());
    let mut sides: Vec<u32> = THUMB_SIDES.iter().map(|side| (*side).min(longest)).collect();
    sides.dedup();
    for side in sides {
        let small =
            if side == longest { picture.to_rgb8() } else { picture.thumbnail(side, side).into_rgb8() };
        for quality in THUMB_QUALITIES {
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                .encode_image(&small)
                .map_err(|e| e.to_string())?;
            if out.len() as u64 <= MAX_THUMB_BYTES {
                return Ok(out);
            }
        }
    }
    Err("no thumbnail fits 16 KiB".into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `width` x `height` JPEG of a colour gradient with an EXIF block holding a GPS marker.
    pub(crate) fn jpeg_with_exif(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 85)
            .encode_image(&picture)
            .expect("encode");
        let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(plain.into()).expect("parse");
        use img_parts::ImageEXIF;
        let mut exif = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude=51.05N".to_vec();
        exif.resize(200, 0);
        jpeg.set_exif(Some(exif.into()));
        jpeg.encoder().bytes().to_vec()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn location_is_stripped_unless_kept_and_a_thumbnail_fits() {
        let original = jpeg_with_exif(1200, 900);
        assert!(contains(&original, b"GPSLatitude"));
        let prepared = prepare(original.clone(), false).expect("prepare");
        assert!(!contains(&prepared.bytes, b"GPSLatitude"));
        assert!(prepared.stripped);
        assert_eq!((prepared.kind, prepared.width, prepared.height), (ImageType::Jpeg, 1200, 900));
        assert!(prepared.thumb.len() as u64 <= MAX_THUMB_BYTES);
        assert_eq!(ImageType::sniff(&prepared.thumb), Some(ImageType::Jpeg));
        let kept = prepare(original.clone(), true).expect("prepare");
        assert_eq!(kept.bytes, original);
    }

    /// Defect (found in a trial): a 543-byte JPEG got a 10 KB thumbnail, drawn at 320 pixels.
    #[test]
    fn a_picture_as_small_as_a_thumbnail_is_not_made_larger() {
        use image::ImageEncoder;
        let small = jpeg_with_exif(40, 30);
        let prepared = prepare(small, false).expect("prepare");
        assert_eq!(prepared.thumb, prepared.bytes, "a small JPEG is its own thumbnail");
        // One whose metadata is kept is not: every node fetches thumbnails (from the review).
        let kept = prepare(jpeg_with_exif(40, 30), true).expect("prepare");
        assert_ne!(kept.thumb, kept.bytes);
        assert!(!contains(&kept.thumb, b"GPSLatitude"));
        let mut png = Vec::new();
        let picture = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 90]));
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(picture.as_raw(), 40, 30, image::ExtendedColorType::Rgb8)
            .expect("encode");
        let prepared = prepare(png, false).expect("prepare");
        assert_eq!(describe(&prepared.thumb), Some((ImageType::Jpeg, 40, 30)), "drawn at its own size");
    }

    #[test]
    fn comments_and_trailing_pictures_are_dropped() {
        let mut with_trailer = jpeg_with_exif(64, 48);
        // A second picture appended after the first, as multi-picture files do.
        with_trailer.extend(jpeg_with_exif(16, 16));
        let prepared = prepare(with_trailer.clone(), false).expect("prepare");
        assert!(!contains(&prepared.bytes, b"GPSLatitude"), "the appended picture's EXIF went too");
        assert!(prepared.bytes.len() < with_trailer.len() / 2 + 400);
        assert!(prepared.bytes.ends_with(&[0xFF, 0xD9]));
        assert_eq!((prepared.width, prepared.height), (64, 48));
    }

    /// A JPEG with an EXIF block holding only an orientation tag (6: turn 90° clockwise).
    fn jpeg_turned(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, _| image::Rgb([(x * 4) as u8, 0, 0]));
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 85)
            .encode_image(&picture)
            .expect("encode");
        let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(plain.into()).expect("parse");
        use img_parts::ImageEXIF;
        let exif: Vec<u8> =
            [&b"MM\0*\0\0\0\x08"[..], &[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]].concat();
        jpeg.set_exif(Some(exif.into()));
        jpeg.encoder().bytes().to_vec()
    }

    #[test]
    fn a_picture_meant_to_be_turned_is_stored_turned() {
        let prepared = prepare(jpeg_turned(64, 48), false).expect("prepare");
        assert_eq!((prepared.width, prepared.height), (48, 64));
        let stored = image::load_from_memory(&prepared.bytes).expect("decodes");
        assert_eq!((stored.width(), stored.height()), (48, 64), "turned in its pixels, not by a tag");
        assert!(!contains(&prepared.bytes, b"Exif\0\0"));
        let thumb = image::load_from_memory(&prepared.thumb).expect("decodes");
        assert!(thumb.height() > thumb.width());
    }

    #[test]
    fn a_gif_loses_its_comments_and_foreign_blocks_and_still_decodes() {
        let frame = image::RgbaImage::from_fn(20, 10, |x, _| image::Rgba([(x * 12) as u8, 40, 90, 255]));
        let mut gif = Vec::new();
        {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
            encoder.encode_frame(image::Frame::new(frame)).expect("encode");
        }
        assert_eq!(gif.last(), Some(&0x3B));
        let trailer = gif.pop();
        // A comment and an XMP block before the trailer, as editors write them.
        gif.extend_from_slice(&[0x21, 0xFE, 9]);
        gif.extend_from_slice(b"GPS 51.05");
        gif.push(0);
        gif.extend_from_slice(&[0x21, 0xFF, 11]);
        gif.extend_from_slice(b"XMP DataXMP");
        gif.extend_from_slice(&[5, b'<', b'x', b'm', b'p', b'>', 0]);
        gif.extend(trailer);
        gif.extend_from_slice(b"trailing junk");
        let prepared = prepare(gif.clone(), false).expect("prepare");
        assert!(prepared.stripped);
        assert!(!contains(&prepared.bytes, b"GPS") && !contains(&prepared.bytes, b"XMP"));
        assert!(prepared.bytes.ends_with(&[0x3B]));
        let back = image::load_from_memory(&prepared.bytes).expect("still a GIF");
        assert_eq!((back.width(), back.height()), (20, 10));
        assert_eq!(prepare(gif, true).expect("kept").bytes.len(), prepared.bytes.len() + 13 + 21 + 13);
    }

    #[test]
    fn the_content_decides_not_the_name() {
        assert_eq!(
            prepare(b"<svg></svg>".to_vec(), false).expect_err("not a picture"),
            ImageError::NotAnImage
        );
        let mut truncated = jpeg_with_exif(64, 64);
        truncated.truncate(300);
        assert!(matches!(prepare(truncated, true), Err(ImageError::Damaged(..))));
        // Cut inside its picture data, where a decoder would fill the rest with grey.
        let mut plain = Vec::new();
        let picture = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 90]));
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 85)
            .encode_image(&picture)
            .expect("encode");
        assert!(prepare(plain.clone(), false).is_ok(), "whole, it is a picture");
        // With a thumbnail in its EXIF (as phones write them), whose own end marker comes first.
        let mut thumb = Vec::new();
        let small = image::RgbImage::from_fn(8, 8, |x, _| image::Rgb([(x * 30) as u8, 10, 10]));
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut thumb, 80)
            .encode_image(&small)
            .expect("encode");
        use img_parts::ImageEXIF;
        let mut with_thumb = img_parts::jpeg::Jpeg::from_bytes(plain.clone().into()).expect("parse");
        with_thumb.set_exif(Some(thumb.into()));
        let mut with_thumb = with_thumb.encoder().bytes().to_vec();
        assert!(prepare(with_thumb.clone(), true).is_ok(), "whole, with its thumbnail");
        with_thumb.truncate(with_thumb.len() - 40);
        let err = prepare(with_thumb, true).expect_err("cut short behind a whole thumbnail");
        assert!(err.to_string().contains("ends before its picture does"), "{err}");
        plain.truncate(plain.len() - 40);
        let err = prepare(plain, false).expect_err("cut short");
        assert!(err.to_string().contains("ends before its picture does"), "{err}");
    }
}
