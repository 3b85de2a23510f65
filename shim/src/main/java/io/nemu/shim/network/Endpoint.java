package io.nemu.shim.network;

import java.util.List;

/**
 * One interface of the pod's network namespace (CNI's veth) and the tap that carries its traffic to the
 * VM: the guest NIC takes the veth's name, MAC, MTU and addresses.
 *
 * @param veth      interface name in the netns (usually eth0)
 * @param mac       its MAC, lower case; the guest NIC gets the same one
 * @param mtu       its MTU; the tap gets the same one
 * @param addresses its IPv4/IPv6 addresses
 * @param tap       the tap created beside it ({@code tap<i>_kata})
 */
public record Endpoint(String veth, String mac, int mtu, List<IpAddress> addresses, String tap) {
    public Endpoint {
        addresses = List.copyOf(addresses);
    }

    /** An interface address with its prefix length. */
    public record IpAddress(boolean v6, String address, int prefix) {
        @Override
        public String toString() {
            return address + "/" + prefix;
        }
    }

    /** A route of the netns that leaves through one of the endpoints; empty dest is the default route. */
    public record Route(boolean v6, String dest, String gateway, String device, String source, int scope) {
    }

    /** A static (permanent) neighbour entry. */
    public record Neighbor(boolean v6, String address, String mac, String device) {
    }

    /** Kata's tap naming: tap0_kata for the first endpoint. */
    public static String tapName(int index) {
        return "tap" + index + "_kata";
    }
}
