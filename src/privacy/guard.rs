//! The configuration guard: settings that would send video or pictures off the device are
//! refused when a pipeline file is validated, with the reason, at their `file:line:column`.
//!
//! Two checks:
//! - [`check_text`] reads the YAML as a tree before it is parsed into typed sections, so that keys
//!   a user would plausibly write (an image attachment on a webhook, an RTSP restream, an upload
//!   URL for snapshots) get "lookout never sends footage off the device: ..." instead of a bare
//!   "unknown field".
//! - [`local_folder`] accepts only folders on this machine for stored media: URLs, `//host/share`,
//!   `host:/export` and paths on a network filesystem (NFS, SMB, sshfs, ...) are refused.
//!
//! Loopback addresses are no exception: anything reached over a socket counts as off the device.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::config::ConfigError;

/// How every refusal starts.
pub const NEVER: &str = "lookout never sends footage off the device";

/// Keys (at the top level or in a camera) that would stream or upload video.
const STREAMING: &[&str] = &[
    "restream",
    "restreaming",
    "rtsp_out",
    "rtsp_output",
    "rtsp_server",
    "rtsp_restream",
    "rtmp",
    "rtmp_out",
    "hls",
    "webrtc",
    "go2rtc",
    "srt",
    "stream_out",
    "stream_server",
    "video_out",
    "video_output",
    "output",
    "outputs",
    "live_view",
    "liveview",
    "mjpeg",
    "mjpeg_server",
    "relay",
    "forward",
    "upload",
    "uploads",
    "cloud",
];

/// Sink types that would carry pictures or video.
const PIXEL_SINKS: &[&str] = &[
    "rtsp",
    "rtmp",
    "hls",
    "webrtc",
    "srt",
    "restream",
    "stream",
    "video",
    "image",
    "images",
    "snapshot",
    "snapshots",
    "recording",
    "recordings",
    "clip",
    "clips",
    "s3",
    "ftp",
    "sftp",
    "smb",
    "nfs",
    "upload",
    "cloud",
    "frigate_plus",
];

/// Options of a sink that would attach pictures or video to what it sends.
const ATTACHMENTS: &[&str] = &[
    "snapshot",
    "snapshots",
    "attach_snapshot",
    "attach_snapshots",
    "include_snapshot",
    "include_snapshots",
    "send_snapshot",
    "snapshot_url",
    "image",
    "images",
    "attach_image",
    "attach_images",
    "include_image",
    "include_images",
    "send_image",
    "image_url",
    "base64_image",
    "thumbnail",
    "thumbnails",
    "attach_thumbnail",
    "include_thumbnail",
    "clip",
    "clips",
    "attach_clip",
    "include_clip",
    "video",
    "attach_video",
    "include_video",
    "recording",
    "frame",
    "frames",
    "attach_frame",
    "include_frame",
    "crop",
    "include_crop",
    "jpeg",
    "jpg",
    "png",
    "picture",
    "pictures",
    "photo",
    "media",
    "attachment",
    "attachments",
];

/// Keys of a `media:` section that would copy stored pictures elsewhere.
const UPLOADS: &[&str] = &[
    "url",
    "uri",
    "upload",
    "upload_url",
    "remote",
    "remote_path",
    "bucket",
    "endpoint",
    "s3",
    "ftp",
    "sftp",
    "host",
    "server",
    "share",
    "webhook",
    "mqtt",
    "sync",
    "cloud",
];

/// File systems whose files live on another machine.
const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "ceph",
    "glusterfs",
    "lustre",
    "gpfs",
    "beegfs",
    "davfs",
    "fuse.sshfs",
    "sshfs",
    "fuse.rclone",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.glusterfs",
    "fuse.davfs2",
];

/// A YAML node with the position of every mapping key (values are only walked).
#[derive(Debug)]
enum Node {
    Map(Vec<(Spanned<Key>, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

/// A mapping key as text, whatever scalar type YAML gave it.
#[derive(Debug)]
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = m.next_key::<Spanned<Key>>()? {
                    entries.push((k, m.next_value::<Node>()?));
                }
                Ok(Node::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = s.next_element::<Node>()? {
                    items.push(n);
                }
                Ok(Node::Seq(items))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
        }
        d.deserialize_any(V)
    }
}

impl Node {
    fn entries(&self) -> &[(Spanned<Key>, Node)] {
        match self {
            Node::Map(e) => e,
            _ => &[],
        }
    }

    fn items(&self) -> &[Node] {
        match self {
            Node::Seq(i) => i,
            _ => &[],
        }
    }
}

/// `Restream-URL` and `restream_url` are the same key to a person.
fn norm(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('-', "_")
}

/// Refuses settings in a pipeline's text (after `${VAR}` substitution) that would send video or
/// pictures off the device. Text that is not valid YAML passes: the typed parse reports it.
pub fn check_text(text: &str, file: &Path) -> Result<(), ConfigError> {
    let Ok(root) = serde_saphyr::from_str::<Node>(text) else {
        return Ok(());
    };
    let err = |k: &Spanned<Key>, m: String| Err(ConfigError::spanned(file, k, m));
    for (key, value) in root.entries() {
        let name = norm(&key.value.0);
        if STREAMING.contains(&name.as_str()) {
            return err(key, streaming(&key.value.0));
        }
        match name.as_str() {
            "cameras" => {
                for cam in value.items() {
                    for (k, _) in cam.entries() {
                        if STREAMING.contains(&norm(&k.value.0).as_str()) {
                            return err(k, streaming(&k.value.0));
                        }
                    }
                }
            }
            "sinks" => {
                for sink in value.items() {
                    for (kind, options) in sink.entries() {
                        let kind_name = norm(&kind.value.0);
                        if PIXEL_SINKS.contains(&kind_name.as_str()) {
                            return err(
                                kind,
                                format!(
                                    "{NEVER}: a `{}` sink would send pictures or video; sinks \
                                     send events (metadata only) to stdout, a file, a webhook or \
                                     MQTT. Redacted snapshots and recordings can be kept on this \
                                     machine with `media:`",
                                    kind.value.0
                                ),
                            );
                        }
                        for (k, _) in options.entries() {
                            if ATTACHMENTS.contains(&norm(&k.value.0).as_str()) {
                                return err(
                                    k,
                                    format!(
                                        "{NEVER}: `{}` sinks send event metadata only and cannot \
                                         attach pictures or video (`{}`). Redacted snapshots can \
                                         be kept on this machine with `media: {{snapshots: \
                                         {{path: ...}}}}`, each named after its event's `id`",
                                        kind.value.0, k.value.0
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            "media" => {
                for (section, body) in value.entries() {
                    for (k, _) in body.entries() {
                        if UPLOADS.contains(&norm(&k.value.0).as_str()) {
                            return err(
                                k,
                                format!(
                                    "{NEVER}: `media.{}.{}` would copy pictures elsewhere; \
                                     stored media stays in a folder on this machine (`path`)",
                                    section.value.0, k.value.0
                                ),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn streaming(key: &str) -> String {
    format!(
        "{NEVER}: `{key}` would stream or upload the camera's video, and lookout has no video \
         output. Events go to `sinks:` (metadata only); redacted snapshots and recordings stay on \
         this machine under `media:`"
    )
}

/// Why `text` names a place on another machine, if it does: a URL (other than `file://`), a
/// network share (`//host/share`, `\\host\share`) or a remote host path (`host:/export`,
/// `user@host:path`).
pub fn network_location(text: &str) -> Option<String> {
    let t = text.trim();
    if t.starts_with("//") || t.starts_with("\\\\") {
        return Some("a network share".into());
    }
    if let Some((scheme, rest)) = t.split_once("://") {
        let local = scheme.eq_ignore_ascii_case("file")
            && (rest.starts_with('/') || rest.starts_with("localhost/"));
        return (!local).then(|| format!("a {scheme}:// URL"));
    }
    if let Some((host, rest)) = t.split_once(':') {
        let hostlike = host.len() > 1 && !host.contains(['/', '\\']);
        if hostlike && (rest.starts_with('/') || host.contains('@')) {
            return Some("a path on another host (host:/path)".into());
        }
    }
    None
}

/// The network file system holding `path`, if any, from a mount table in `/proc/self/mounts`
/// form: (file system type, mount point) of the longest mount point above `path`.
pub fn network_mount(path: &Path, mounts: &str) -> Option<(String, PathBuf)> {
    let mut best: Option<(usize, &str, &str, PathBuf)> = None;
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(dev), Some(point), Some(fstype)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let point = PathBuf::from(unescape_mount(point));
        if !path.starts_with(&point) {
            continue;
        }
        let depth = point.components().count();
        if best.as_ref().is_none_or(|b| depth >= b.0) {
            best = Some((depth, dev, fstype, point));
        }
    }
    let (_, dev, fstype, point) = best?;
    let remote_dev = dev.starts_with("//") || (dev.contains(":/") && !dev.starts_with('/'));
    (NETWORK_FS.contains(&fstype) || remote_dev).then(|| (fstype.to_string(), point))
}

/// Mount tables escape space, tab, newline and backslash as octal (`\040`).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The deepest existing folder at or above `path`, with symlinks resolved (so that a link into a
/// network mount is seen as one).
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors().find_map(|p| p.canonicalize().ok())
}

/// A media folder as written in a pipeline file, resolved against `base` (the pipeline file's
/// folder), or an error at its position if it is not on this machine.
pub fn local_folder(
    value: &Spanned<String>,
    what: &str,
    file: &Path,
    base: &Path,
) -> Result<PathBuf, ConfigError> {
    let text = value.value.trim();
    if text.is_empty() {
        return Err(ConfigError::spanned(
            file,
            value,
            format!("`{what}` path is empty: give a folder on this machine"),
        ));
    }
    if let Some(why) = network_location(text) {
        return Err(ConfigError::spanned(
            file,
            value,
            format!(
                "{NEVER}: the {what} folder `{}` is {why}; give a folder on this machine",
                crate::config::redact_userinfo(text)
            ),
        ));
    }
    let local = text
        .strip_prefix("file://localhost")
        .or_else(|| text.strip_prefix("file://"))
        .unwrap_or(text);
    let path = base.join(local);
    let path: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if let Some(real) = existing_ancestor(&path)
        && let Some((fstype, point)) = network_mount(&real, &mounts)
    {
        return Err(ConfigError::spanned(
            file,
            value,
            format!(
                "{NEVER}: the {what} folder `{}` is on a network file system ({fstype} mounted \
                 at {}); give a folder on a local disk",
                path.display(),
                point.display()
            ),
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(yaml: &str) -> ConfigError {
        check_text(yaml, Path::new("p.yaml")).expect_err("refused")
    }

    #[test]
    fn webhook_snapshot_is_refused_at_its_key() {
        let e = refused(
            "cameras: []\nsinks:\n  - webhook:\n      url: http://127.0.0.1/x\n      attach_snapshot: true\n",
        );
        assert_eq!((e.line, e.column), (5, 7), "{e}");
        assert!(e.message.starts_with(NEVER), "{e}");
        assert!(e.message.contains("attach_snapshot"), "{e}");
    }

    #[test]
    fn restreams_and_pixel_sinks_are_refused() {
        let e = refused("cameras:\n  - name: a\n    source: x.avi\n    restream: {port: 8554}\n");
        assert_eq!((e.line, e.column), (4, 5), "{e}");
        let e = refused("rtsp_out: {port: 8554}\ncameras: []\n");
        assert_eq!(e.line, 1);
        let e = refused("cameras: []\nsinks:\n  - rtsp: {url: rtsp://0.0.0.0:8554/live}\n");
        assert_eq!((e.line, e.column), (3, 5), "{e}");
        assert!(e.message.contains("`rtsp` sink"), "{e}");
        let e = refused("cameras: []\nmedia:\n  snapshots:\n    path: x\n    Upload-URL: s3://b\n");
        assert_eq!(e.line, 5);
    }

    #[test]
    fn ordinary_files_pass() {
        let ok = "cameras:\n  - name: a\n    source: x.avi\nsinks:\n  - webhook: {url: http://h/x, headers: {X-Image: no}}\n  - file: {path: e.jsonl}\n";
        assert!(check_text(ok, Path::new("p.yaml")).is_ok());
        assert!(check_text("not: [valid", Path::new("p.yaml")).is_ok());
    }

    #[test]
    fn network_locations() {
        for net in [
            "s3://bucket/snaps",
            "smb://nas/share",
            "nfs://nas/export",
            "http://127.0.0.1:8080/upload",
            "//nas/share/snaps",
            "\\\\nas\\share",
            "nas:/export/snaps",
            "pi@nas:snaps",
            "file://nas/share",
        ] {
            assert!(network_location(net).is_some(), "{net}");
        }
        for local in [
            "media/snaps",
            "/var/lib/lookout/snaps",
            "./snaps",
            "file:///var/snaps",
            "C:/snaps",
            "snap:shots",
        ] {
            assert_eq!(network_location(local), None, "{local}");
        }
    }

    #[test]
    fn network_mounts_are_found_by_longest_prefix() {
        let mounts = "\
/dev/sda1 / ext4 rw 0 0
nas:/export /mnt/nas nfs4 rw 0 0
//nas/photos /mnt/photo\\040share cifs rw 0 0
/dev/sdb1 /mnt/nas/local ext4 rw 0 0
tmpfs /tmp tmpfs rw 0 0
";
        let nm = |p: &str| network_mount(Path::new(p), mounts);
        assert_eq!(
            nm("/mnt/nas/snaps"),
            Some(("nfs4".into(), PathBuf::from("/mnt/nas")))
        );
        assert_eq!(nm("/mnt/nas/local/snaps"), None);
        assert_eq!(
            nm("/mnt/photo share/x").map(|m| m.0),
            Some("cifs".to_string())
        );
        assert_eq!(nm("/var/lib/lookout"), None);
        assert_eq!(nm("/mnt/nasty"), None);
    }
}
