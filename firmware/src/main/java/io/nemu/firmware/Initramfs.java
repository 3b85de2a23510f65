package io.nemu.firmware;

import org.apache.commons.compress.archivers.cpio.CpioArchiveEntry;
import org.apache.commons.compress.archivers.cpio.CpioArchiveOutputStream;
import org.apache.commons.compress.archivers.cpio.CpioConstants;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * The tree of an initramfs, written as a newc cpio archive. Entries are written sorted by path with
 * mtime 0, uid/gid 0 and inode numbers by position, so the same tree always gives the same bytes.
 */
public final class Initramfs {

    private sealed interface Node permits Dir, File, Link, CharDev {
        int mode();
    }

    private record Dir(int mode) implements Node {
    }

    private record File(int mode, byte[] data, Path source, long size) implements Node {
    }

    private record Link(String target) implements Node {
        public int mode() {
            return 0777;
        }
    }

    private record CharDev(int mode, int major, int minor) implements Node {
    }

    private final TreeMap<String, Node> nodes = new TreeMap<>();

    /** A directory (and its parents, 0755). */
    public Initramfs dir(String path, int mode) {
        String p = clean(path);
        parents(p);
        nodes.put(p, new Dir(mode));
        return this;
    }

    public Initramfs file(String path, int mode, byte[] data) {
        String p = clean(path);
        parents(p);
        nodes.put(p, new File(mode, data.clone(), null, data.length));
        return this;
    }

    public Initramfs file(String path, int mode, String text) {
        return file(path, mode, text.getBytes(StandardCharsets.UTF_8));
    }

    /** A file whose content is read from {@code source} when the archive is written. */
    public Initramfs file(String path, int mode, Path source) throws IOException {
        String p = clean(path);
        parents(p);
        nodes.put(p, new File(mode, null, source, Files.size(source)));
        return this;
    }

    public Initramfs symlink(String path, String target) {
        String p = clean(path);
        parents(p);
        nodes.put(p, new Link(target));
        return this;
    }

    public Initramfs charDevice(String path, int mode, int major, int minor) {
        String p = clean(path);
        parents(p);
        nodes.put(p, new CharDev(mode, major, minor));
        return this;
    }

    public boolean contains(String path) {
        return nodes.containsKey(clean(path));
    }

    /** Total bytes of file contents. */
    public long contentSize() {
        return nodes.values().stream().mapToLong(n -> n instanceof File f ? f.size() : 0).sum();
    }

    private void parents(String p) {
        int slash = p.lastIndexOf('/');
        while (slash > 0) {
            String parent = p.substring(0, slash);
            Node existing = nodes.get(parent);
            if (existing == null) {
                nodes.put(parent, new Dir(0755));
            } else if (!(existing instanceof Dir)) {
                throw new IllegalArgumentException(parent + " is not a directory, cannot hold " + p);
            }
            slash = parent.lastIndexOf('/');
        }
    }

    private static String clean(String path) {
        String p = path;
        while (p.startsWith("/")) {
            p = p.substring(1);
        }
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        if (p.isEmpty() || p.contains("//") || p.equals("..") || p.startsWith("../") || p.contains("/../")) {
            throw new IllegalArgumentException("bad initramfs path: " + path);
        }
        return p;
    }

    /**
     * Writes the tree as files into {@code dir} (for a file-system image). Device nodes are left out: the root
     * image's /dev is a devtmpfs. Ownership and times are the image tool's business ({@code --all-root}, {@code -T0}).
     */
    public void writeTree(Path dir) throws IOException {
        for (Map.Entry<String, Node> e : nodes.entrySet()) {
            Path p = dir.resolve(e.getKey());
            Node n = e.getValue();
            if (n instanceof Dir) {
                Files.createDirectories(p);
            } else if (n instanceof File f) {
                if (f.data() != null) {
                    Files.write(p, f.data());
                } else {
                    Files.copy(f.source(), p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            } else if (n instanceof Link l) {
                Files.createSymbolicLink(p, Path.of(l.target()));
            }
            if (!(n instanceof Link) && !(n instanceof CharDev)) {
                Files.setPosixFilePermissions(p, permissions(n.mode()));
            }
        }
    }

    private static java.util.Set<java.nio.file.attribute.PosixFilePermission> permissions(int mode) {
        java.util.Set<java.nio.file.attribute.PosixFilePermission> s =
                java.util.EnumSet.noneOf(java.nio.file.attribute.PosixFilePermission.class);
        java.nio.file.attribute.PosixFilePermission[] bits = java.nio.file.attribute.PosixFilePermission.values();
        // values() runs OWNER_READ..OTHERS_EXECUTE, i.e. bit 8 down to bit 0.
        for (int i = 0; i < 9; i++) {
            if ((mode & (1 << (8 - i))) != 0) {
                s.add(bits[i]);
            }
        }
        return s;
    }

    /** Writes the uncompressed newc archive. */
    public void writeCpio(OutputStream out) throws IOException {
        CpioArchiveOutputStream cpio = new CpioArchiveOutputStream(out, CpioConstants.FORMAT_NEW,
                CpioConstants.BLOCK_SIZE, StandardCharsets.UTF_8.name());
        long inode = 1;
        for (Map.Entry<String, Node> e : nodes.entrySet()) {
            CpioArchiveEntry entry = new CpioArchiveEntry(CpioConstants.FORMAT_NEW, e.getKey());
            Node n = e.getValue();
            entry.setInode(inode++);
            entry.setUID(0);
            entry.setGID(0);
            entry.setTime(0);
            entry.setNumberOfLinks(n instanceof Dir ? 2 : 1);
            byte[] inline = null;
            if (n instanceof Dir d) {
                entry.setMode(CpioConstants.C_ISDIR | d.mode());
            } else if (n instanceof File f) {
                entry.setMode(CpioConstants.C_ISREG | f.mode());
                entry.setSize(f.size());
                inline = f.data();
            } else if (n instanceof Link l) {
                inline = l.target().getBytes(StandardCharsets.UTF_8);
                entry.setMode(CpioConstants.C_ISLNK | l.mode());
                entry.setSize(inline.length);
            } else if (n instanceof CharDev c) {
                entry.setMode(CpioConstants.C_ISCHR | c.mode());
                entry.setRemoteDeviceMaj(c.major());
                entry.setRemoteDeviceMin(c.minor());
            }
            cpio.putArchiveEntry(entry);
            if (inline != null) {
                cpio.write(inline);
            } else if (n instanceof File f) {
                try (InputStream in = Files.newInputStream(f.source())) {
                    long copied = in.transferTo(cpio);
                    if (copied != f.size()) {
                        throw new IOException(f.source() + " changed size while being archived");
                    }
                }
            }
            cpio.closeArchiveEntry();
        }
        cpio.finish();
        cpio.flush();
    }
}
