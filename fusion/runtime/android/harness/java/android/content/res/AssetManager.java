package android.content.res;

import java.io.ByteArrayInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;

/** Stand-in for android.content.res.AssetManager over the assets/ entries of an APK. */
public final class AssetManager {
    private final Map<String, byte[]> assets;

    public AssetManager(Map<String, byte[]> assets) {
        this.assets = assets;
    }

    public InputStream open(String name) throws IOException {
        byte[] b = assets.get(name);
        if (b == null) {
            throw new FileNotFoundException(name);
        }
        return new ByteArrayInputStream(b);
    }
}
