package io.nemu.firmware;

import org.tukaani.xz.SingleXZInputStream;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Takes the uncompressed kernel ({@code vmlinux}, an ELF file) out of an x86 bzImage, so that QEMU can
 * boot it directly through its PVH entry and skip the in-guest decompression (seconds under TCG).
 * The boot protocol header (2.08+) says where the compressed payload lies: {@code payload_offset} and
 * {@code payload_length}, counted from the start of the protected-mode code.
 */
public final class BzImage {

    /** Payload compressions the kernel build can choose, recognised by their magic bytes. */
    public enum Compression { XZ, ZSTD, GZIP, LZ4, LZMA, LZO, BZIP2 }

    /** Where the payload is and how it is compressed. */
    public record Payload(long offset, int length, Compression compression) {
    }

    private BzImage() {
    }

    public static Payload payload(byte[] image, String what) throws FirmwareException {
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        if (image.length < 0x250 || b.getInt(0x202) != 0x53726448 /* "HdrS" */) {
            throw new FirmwareException(what + " is not an x86 bzImage (no HdrS boot header)");
        }
        int version = Short.toUnsignedInt(b.getShort(0x206));
        if (version < 0x208) {
            throw new FirmwareException(what + " uses boot protocol " + Integer.toHexString(version)
                    + "; payload fields need 2.08 or newer");
        }
        int setupSects = Byte.toUnsignedInt(b.get(0x1F1));
        if (setupSects == 0) {
            setupSects = 4;
        }
        long pmStart = (setupSects + 1L) * 512;
        long offset = pmStart + Integer.toUnsignedLong(b.getInt(0x248));
        int length = b.getInt(0x24C);
        if (length <= 4 || offset + length > image.length) {
            throw new FirmwareException(what + ": payload (offset " + offset + ", " + length
                    + " bytes) lies outside the file of " + image.length + " bytes; truncated?");
        }
        return new Payload(offset, length, detect(image, (int) offset, what));
    }

    private static Compression detect(byte[] d, int o, String what) throws FirmwareException {
        int b0 = d[o] & 0xff, b1 = d[o + 1] & 0xff, b2 = d[o + 2] & 0xff, b3 = d[o + 3] & 0xff;
        if (b0 == 0xFD && b1 == '7' && b2 == 'z' && b3 == 'X') {
            return Compression.XZ;
        }
        if (b0 == 0x28 && b1 == 0xB5 && b2 == 0x2F && b3 == 0xFD) {
            return Compression.ZSTD;
        }
        if (b0 == 0x1F && (b1 == 0x8B || b1 == 0x9E)) {
            return Compression.GZIP;
        }
        if (b0 == 0x02 && b1 == 0x21 && b2 == 0x4C && b3 == 0x18) {
            return Compression.LZ4;
        }
        if (b0 == 0x5D && b1 == 0x00) {
            return Compression.LZMA;
        }
        if (b0 == 0x89 && b1 == 'L' && b2 == 'Z' && b3 == 'O') {
            return Compression.LZO;
        }
        if (b0 == 'B' && b1 == 'Z' && b2 == 'h') {
            return Compression.BZIP2;
        }
        throw new FirmwareException(what + ": unknown kernel payload compression (magic "
                + String.format("%02x%02x%02x%02x", b0, b1, b2, b3) + ")");
    }

    /** Writes the vmlinux ELF of {@code bzImage} to {@code out}; returns its size. */
    public static long extractVmlinux(Path bzImage, OutputStream out) throws IOException {
        byte[] image = Files.readAllBytes(bzImage);
        Payload p = payload(image, bzImage.toString());
        // The build appends the uncompressed size as 4 bytes after the compressed stream.
        int streamLen = p.length() - 4;
        long expected = Integer.toUnsignedLong(ByteBuffer.wrap(image, (int) p.offset() + streamLen, 4)
                .order(ByteOrder.LITTLE_ENDIAN).getInt());
        InputStream compressed = new ByteArrayInputStream(image, (int) p.offset(), streamLen);
        long n;
        switch (p.compression()) {
            case XZ -> {
                try (InputStream in = new SingleXZInputStream(compressed)) {
                    n = copyChecked(in, out, bzImage);
                }
            }
            case GZIP -> {
                try (InputStream in = new GZIPInputStream(compressed, 1 << 16)) {
                    n = copyChecked(in, out, bzImage);
                }
            }
            case ZSTD -> n = zstdCli(image, (int) p.offset(), streamLen, out, bzImage);
            default -> throw new FirmwareException(bzImage + ": kernel payload is " + p.compression()
                    + " compressed; only xz, zstd and gzip are supported");
        }
        if (n != expected) {
            throw new FirmwareException(bzImage + ": decompressed " + n + " bytes but the image says "
                    + expected + "; corrupt kernel");
        }
        return n;
    }

    private static long copyChecked(InputStream in, OutputStream out, Path what) throws IOException {
        byte[] buf = new byte[1 << 16];
        long total = 0;
        boolean first = true;
        try {
            for (int r; (r = in.read(buf)) > 0; ) {
                if (first && r >= 4 && !(buf[0] == 0x7f && buf[1] == 'E' && buf[2] == 'L' && buf[3] == 'F')) {
                    throw new FirmwareException(what + ": decompressed payload is not an ELF file");
                }
                first = false;
                out.write(buf, 0, r);
                total += r;
            }
        } catch (FirmwareException e) {
            throw e;
        } catch (IOException e) {
            throw new FirmwareException(what + ": kernel payload does not decompress (" + e.getMessage()
                    + "); corrupt kernel package?", e);
        }
        return total;
    }

    private static long zstdCli(byte[] image, int off, int len, OutputStream out, Path what) throws IOException {
        Process p;
        try {
            p = new ProcessBuilder("zstd", "-dc", "-q").redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new FirmwareException(what + " has a zstd payload and the zstd tool is missing"
                    + " (apt-get install zstd)", e);
        }
        Thread feeder = new Thread(() -> {
            try (OutputStream stdin = p.getOutputStream()) {
                stdin.write(image, off, len);
            } catch (IOException ignored) {
                // zstd exited early; its exit code tells why
            }
        }, "zstd-feed");
        feeder.start();
        long n = copyChecked(p.getInputStream(), out, what);
        try {
            feeder.join();
            if (p.waitFor() != 0) {
                throw new FirmwareException(what + ": zstd failed to decompress the kernel payload");
            }
        } catch (InterruptedException e) {
            p.destroy();
            Thread.currentThread().interrupt();
            throw new FirmwareException("interrupted while decompressing " + what, e);
        }
        return n;
    }
}
