package io.nemu.vmm;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A virtio-net NIC backed by an existing tap device that QEMU opens by name (in the VM's network
 * namespace, {@link VmConfig#netns()}).
 *
 * @param id   QEMU id of the netdev and device ({@code net0}, ...)
 * @param tap  tap interface name, at most 15 bytes (IFNAMSIZ)
 * @param mac  guest MAC, {@code xx:xx:xx:xx:xx:xx}, unicast
 */
public record NetDevice(String id, String tap, String mac) {
    /** IFNAMSIZ is 16 including the terminating NUL. */
    public static final int MAX_IFNAME = 15;
    private static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    private static final Pattern ID = Pattern.compile("[A-Za-z][A-Za-z0-9_-]{0,31}");

    public NetDevice {
        check(id != null && ID.matcher(id).matches(), "id",
                "must be a letter then up to 31 letters, digits, '_' or '-', got '" + id + "'");
        check(tap != null && !tap.isEmpty(), "tap", "is missing");
        int len = tap.getBytes(StandardCharsets.UTF_8).length;
        check(len <= MAX_IFNAME, "tap", "'" + tap + "' is " + len + " bytes, longer than " + MAX_IFNAME);
        check(!tap.equals(".") && !tap.equals("..") && tap.chars().noneMatch(c -> c == '/' || c == ':' || c == ','
                || c == '=' || Character.isWhitespace(c) || c < 0x20), "tap",
                "'" + tap + "' is not a valid interface name (no '/', ':', ',', '=' or spaces)");
        check(mac != null && MAC.matcher(mac.toLowerCase(Locale.ROOT)).matches(), "mac",
                "must look like 02:00:00:00:00:01, got '" + mac + "'");
        mac = mac.toLowerCase(Locale.ROOT);
        check((Integer.parseInt(mac.substring(0, 2), 16) & 1) == 0, "mac", "'" + mac + "' is a multicast address");
        check(!mac.equals("00:00:00:00:00:00"), "mac", "is all zeros");
    }

    private static void check(boolean ok, String field, String problem) {
        if (!ok) {
            throw new VmConfigException("netDevices." + field, problem);
        }
    }
}
