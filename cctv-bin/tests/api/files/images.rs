//! The image job end to end: upload → processed JPEG + thumbnail, registered; bad images
//! mark the event and leave the server serving.

use std::io::Write;

use super::*;
use crate::helpers::*;

/// A genuine decompression bomb: a 20000×20000 1-bit PNG of zeros (≈50 MB of raw rows
/// compressed to well under 100 kB; 1.6 GB as RGBA).
fn png_bomb() -> Vec<u8> {
    /// The stream writer wants an owned `'static` sink; this one keeps the bytes reachable.
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Sink::default();
    let mut encoder = png::Encoder::new(out.clone(), 20_000, 20_000);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let mut stream = encoder
        .write_header()
        .unwrap()
        .into_stream_writer()
        .unwrap();
    let rows = vec![0u8; 2_500 * 1_000];
    for _ in 0..20 {
        stream.write_all(&rows).unwrap();
    }
    stream.finish().unwrap();
    std::mem::take(&mut *out.0.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_12_megapixel_upload_becomes_a_watermarked_1080p_jpeg_and_a_registered_thumbnail() {
    let upload = jpeg(4000, 3000);
    for backend in backends() {
        let app = spawn_app(backend).await;
        let event = post_image(&app, "IMG_BIG", &upload).await;

        let row = settled_event(&app, event).await;
        assert!(row["image_error"].is_null(), "{row:?}");
        let main = row["image_path"].as_str().unwrap().to_owned();
        let thumb = row["thumbnail_path"].as_str().unwrap().to_owned();
        assert!(
            main.starts_with("events/") && main.ends_with("_processed.jpg"),
            "{main}"
        );
        assert!(thumb.ends_with("_thumb.jpg"), "{thumb}");

        let blobs = app.core.blobs().unwrap();
        let main_bytes = blobs.get(&main).await.unwrap();
        let decoded = image::load_from_memory(&main_bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (1440, 1080));
        assert_eq!(&main_bytes[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
        // The upload has no bright pixel: near-white text appears bottom-left only.
        let bright = |x, y, w, h| {
            decoded
                .crop_imm(x, y, w, h)
                .to_rgb8()
                .pixels()
                .filter(|p| p.0.iter().all(|c| *c > 200))
                .count()
        };
        assert!(bright(0, 960, 600, 120) > 50, "watermark text bottom-left");
        assert_eq!(bright(840, 0, 600, 120), 0, "nothing stamped elsewhere");
        let thumb_bytes = blobs.get(&thumb).await.unwrap();
        let t = image::load_from_memory(&thumb_bytes).unwrap();
        assert_eq!((t.width(), t.height()), (320, 240));

        for (path, bytes, w, h) in [
            (&main, &main_bytes, 1440, 1080),
            (&thumb, &thumb_bytes, 320, 240),
        ] {
            let reg = registry_row(&app, path)
                .await
                .unwrap_or_else(|| panic!("{path} registered"));
            assert_eq!(reg["file_type"], "image/jpeg");
            assert_eq!(reg["file_size"], bytes.len() as u64);
            assert_eq!(
                (reg["width"].as_i64(), reg["height"].as_i64()),
                (Some(w), Some(h))
            );
            assert_eq!(reg["related_table"], "event_logs");
            assert_eq!(reg["related_id"], event);
        }
        let files = event_files(&app, event).await;
        assert_eq!(
            files.len(),
            3,
            "original, processed and thumbnail: {files:?}"
        );
        let original = files
            .iter()
            .find(|f| f["metadata"]["kind"] == "event_image")
            .unwrap();
        assert_eq!(
            (original["width"].as_i64(), original["height"].as_i64()),
            (Some(4000), Some(3000))
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_jpeg_and_a_png_bomb_mark_their_events_and_the_server_keeps_serving() {
    let whole = jpeg(640, 480);
    let truncated = whole[..whole.len() / 2].to_vec();
    let bomb = png_bomb();
    assert!(bomb.len() < 200_000, "a bomb is small: {}", bomb.len());
    for backend in backends() {
        let app = spawn_app(backend).await;
        for (re_id, bytes, reason) in [
            ("IMG_CUT", &truncated, "corrupt"),
            ("IMG_BOMB", &bomb, "exceeds the size limits"),
        ] {
            let event = post_image(&app, re_id, bytes).await;
            let row = settled_event(&app, event).await;
            let error = row["image_error"]
                .as_str()
                .unwrap_or_else(|| panic!("{re_id}: {row:?}"));
            assert!(error.contains(reason), "{re_id}: {error}");
            assert!(
                row["image_path"].is_null() && row["thumbnail_path"].is_null(),
                "{row:?}"
            );
            assert_eq!(
                event_files(&app, event).await.len(),
                1,
                "only the upload is registered"
            );
        }
        // Still serving, and still processing images.
        let event = post_image(&app, "IMG_AFTER", &whole).await;
        let row = settled_event(&app, event).await;
        assert!(row["image_error"].is_null(), "{row:?}");
        assert_eq!(app.get("/health").await.status, 200);
        app.stop().await;
    }
}
