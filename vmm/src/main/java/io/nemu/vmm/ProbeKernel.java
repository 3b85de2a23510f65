package io.nemu.vmm;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A tiny x86-64 ELF with a PVH entry note, booted directly by QEMU's {@code -kernel}. It writes a
 * message to COM1 and then either leaves QEMU through an {@code isa-debug-exit} port at 0xf4 or halts.
 * Used by the KVM probe and by tests that need a guest without building a real one.
 */
public final class ProbeKernel {
    /** I/O port of the isa-debug-exit device the probe expects. */
    public static final int DEBUG_EXIT_PORT = 0xf4;
    /** Value written to the exit port; QEMU exits with (value << 1) | 1. */
    public static final int EXIT_VALUE = 0x21;
    public static final int EXPECTED_QEMU_EXIT = (EXIT_VALUE << 1) | 1;

    private static final long LOAD = 0x100000;
    private static final int EHDR = 64;
    private static final int PHDR = 56;
    private static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;

    private ProbeKernel() {
    }

    /** Writes the kernel to {@code file}. */
    public static Path write(Path file, String message, boolean exitAfter) throws IOException {
        Files.write(file, bytes(message, exitAfter));
        return file;
    }

    public static byte[] bytes(String message, boolean exitAfter) {
        int noteOff = EHDR + 2 * PHDR;
        int noteLen = 12 + 4 + 4; // header, "Xen\0", entry address
        int codeOff = noteOff + noteLen;
        long entry = LOAD + codeOff;

        ByteBuffer code = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        code.put((byte) 0xFC);                                   // cld
        int msgImm = code.position() + 1;
        code.put((byte) 0xBE).putInt(0);                         // mov esi, msg (patched below)
        code.put(new byte[] {0x66, (byte) 0xBA, (byte) 0xF8, 0x03}); // mov dx, 0x3f8
        code.put(new byte[] {(byte) 0xAC,                        // loop: lodsb
                (byte) 0x84, (byte) 0xC0,                        // test al, al
                0x74, 0x03,                                      // jz done
                (byte) 0xEE,                                     // out dx, al
                (byte) 0xEB, (byte) 0xF8});                      // jmp loop
        if (exitAfter) {
            code.put(new byte[] {(byte) 0xB0, (byte) EXIT_VALUE,  // done: mov al, EXIT_VALUE
                    (byte) 0xE6, (byte) DEBUG_EXIT_PORT});         // out 0xf4, al
        }
        code.put(new byte[] {(byte) 0xFA, (byte) 0xF4, (byte) 0xEB, (byte) 0xFD}); // cli; hlt; jmp hlt
        int codeLen = code.position();
        long msgAddr = entry + codeLen;
        code.putInt(msgImm, (int) msgAddr);

        byte[] msg = (message + "\0").getBytes(StandardCharsets.US_ASCII);
        int fileSize = codeOff + codeLen + msg.length;
        ByteBuffer b = ByteBuffer.allocate(fileSize).order(ByteOrder.LITTLE_ENDIAN);
        // ELF header: ELFCLASS64, little endian, EXEC, x86-64.
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        b.putShort((short) 2).putShort((short) 0x3e).putInt(1).putLong(entry).putLong(EHDR).putLong(0)
                .putInt(0).putShort((short) EHDR).putShort((short) PHDR).putShort((short) 2)
                .putShort((short) 64).putShort((short) 0).putShort((short) 0);
        // PT_LOAD of the whole file at LOAD, rwx.
        b.putInt(1).putInt(7).putLong(0).putLong(LOAD).putLong(LOAD).putLong(fileSize).putLong(fileSize)
                .putLong(0x1000);
        // PT_NOTE with the PVH entry.
        b.putInt(4).putInt(4).putLong(noteOff).putLong(LOAD + noteOff).putLong(LOAD + noteOff)
                .putLong(noteLen).putLong(noteLen).putLong(4);
        b.putInt(4).putInt(4).putInt(XEN_ELFNOTE_PHYS32_ENTRY).put(new byte[] {'X', 'e', 'n', 0})
                .putInt((int) entry);
        b.put(code.array(), 0, codeLen);
        b.put(msg);
        return b.array();
    }
}
