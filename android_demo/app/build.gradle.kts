import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "org.hashedkeras.demo"
    compileSdk = 36
    // NDK r28c: 16 KB page-aligned native libraries by default (Android 15+ devices).
    ndkVersion = "28.2.13676358"

    defaultConfig {
        applicationId = "org.hashedkeras.demo"
        minSdk = 24
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"

        ndk {
            // 64-bit and 32-bit ARM phones (both tested under qemu-user:
            // hashed_keras/lite/kernels/cross/run_arm_tests.sh) and the emulator.
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
        externalNativeBuild {
            cmake {
                // Static C++ runtime: only C interfaces leave libhk_jni.so, and it
                // cannot clash with a libc++_shared.so from an AAR.
                arguments += listOf("-DANDROID_STL=c++_static")
                // One library: the kernels and the JNI bridge (libhk_jni.so).
                targets += listOf("hk_jni")
            }
        }
    }

    // The kernels are built from the repository's own CMake project
    // (hashed_keras/lite/kernels), added by src/main/cpp/CMakeLists.txt.
    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = "3.22.1"
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            // A demo: sign the release build with the debug key.
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // Keep the models uncompressed in the APK (they are read whole anyway).
        noCompress += "tflite"
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(libs.litert)
    implementation(libs.androidx.appcompat)
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.lifecycle.viewmodel)
}
