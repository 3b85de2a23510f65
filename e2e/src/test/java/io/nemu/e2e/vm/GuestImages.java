package io.nemu.e2e.vm;

import io.nemu.firmware.GuestImage;
import io.nemu.firmware.ImageBuilder;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The guest image the VM tests and the boot benchmark use: built once into {@code e2e/target/guest-image}
 * (the .deb cache is the shared one, so only the first build on a machine downloads), or taken from
 * {@code -Dnemu.guest.dir=DIR} when given.
 */
public final class GuestImages {
    private GuestImages() {
    }

    public static synchronized GuestImage get() throws IOException {
        String given = System.getProperty("nemu.guest.dir");
        if (given != null && !given.isBlank()) {
            return GuestImage.load(Path.of(given));
        }
        Path out = Path.of(System.getProperty("nemu.e2e.target", "target")).toAbsolutePath().resolve("guest-image");
        ImageBuilder.Result r = ImageBuilder.builder().output(out)
                .listener((step, total, what) -> System.out.printf("image [%d/%d] %s%n", step, total, what))
                .build().run();
        System.out.println("guest image " + r.dir() + (r.upToDate() ? " (up to date)" : " (built)"));
        return GuestImage.load(r.dir());
    }
}
