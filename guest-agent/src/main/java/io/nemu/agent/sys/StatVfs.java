package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import java.io.IOException;
import java.nio.file.Path;

/**
 * What statvfs(3) says of the file system holding a path: block size, blocks, free blocks, inodes, free
 * inodes. The JDK's {@code FileStore} has no inode counts.
 *
 * @param blockSize {@code f_bsize}
 * @param blocks    {@code f_blocks}
 * @param freeBlocks {@code f_bfree}
 * @param inodes    {@code f_files}
 * @param freeInodes {@code f_ffree}
 */
public record StatVfs(long blockSize, long blocks, long freeBlocks, long inodes, long freeInodes) {
    /** {@code struct statvfs} of 64-bit Linux (glibc and musl): eleven longs and six ints of padding. */
    static final int SIZE = 112;

    public static StatVfs of(Path path) throws IOException {
        Memory buf = new Memory(SIZE);
        buf.clear();
        try {
            Libc.C.statvfs(path.toString(), buf);
            // f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree: 8 bytes each, in this order
            return new StatVfs(buf.getLong(0), buf.getLong(16), buf.getLong(24), buf.getLong(40), buf.getLong(48));
        } catch (LastErrorException e) {
            throw new IOException("statvfs " + path + ": " + Libc.C.strerror(e.getErrorCode()), e);
        }
    }
}
